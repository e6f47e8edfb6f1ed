"""The options that say what is under test, defined once: the runner's command line and pytest's both take them."""

PARTS = ("tcp-server", "udp-server", "tcp-client", "udp-client")

SUT_OPTIONS = [
    *[(f"--{part}-cmd", dict(metavar="CMD", default=None,
                             help=f"shell command template for the {part} under test, with {{host}} and "
                                  f"{{port}} (default: wirecheck's own {part})")) for part in PARTS],
    ("--target", dict(metavar="HOST[:TCPPORT]", default=None,
                      help="test a server on another machine at the application level (no namespaces, no "
                           "impairment, no captures); TCP on TCPPORT (default 6789)")),
    ("--target-udp-port", dict(metavar="PORT", type=int, default=None,
                               help="with --target: the UDP server's port (default 9876)")),
    ("--ipv4-only", dict(action="store_true", default=False,
                         help="the implementation does not listen on IPv6: the IPv6 variants are n/a (without it "
                              "they are n/a only when the server is seen not to listen on IPv6)")),
]


def dest(flag):
    return flag.lstrip("-").replace("-", "_")


def add_to(adder):
    """Adds every option through adder(flag, **kw): argparse's add_argument or pytest's addoption."""
    for flag, kw in SUT_OPTIONS:
        adder(flag, dest=dest(flag), **kw)


def as_argv(ns):
    """The options set in an argparse namespace, as command-line arguments for pytest."""
    out = []
    for flag, kw in SUT_OPTIONS:
        v = getattr(ns, dest(flag), None)
        if kw.get("action") == "store_true":
            out += [flag] if v else []
        elif v is not None:
            out += [flag, str(v)]
    return out


def given(get):
    """{option dest: value} through get(dest) (argparse namespace getattr or pytest's getoption)."""
    return {dest(flag): get(dest(flag)) for flag, _ in SUT_OPTIONS}
