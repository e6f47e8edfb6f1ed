"""`python3 -m wcrun SUBCOMMAND ...`: the main jobs of wirecheck, one subcommand each (the `wirecheck` command)."""
import sys

USAGE = """usage: wirecheck SUBCOMMAND [ARGS...]

  conformance   test an implementation of the uppercase protocol clause by clause, and report
  demo          the TCP-against-UDP reliability demonstration alone
  ladder        the ladder (time-sequence) diagram of a capture's conversation, as SVG
  bench         benchmarks against peers measured in the same run (from a checkout: scripts/bench)

`wirecheck SUBCOMMAND --help` describes each. Installed, runs are written under ./captures/runs/ of the
current directory (./captures/latest points at the last complete one) unless --out DIR says otherwise."""


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "conformance":
        from wcrun import cli
        return cli.main(rest)
    if cmd == "demo":
        from wcrun import demo
        return demo.main(rest)
    if cmd == "ladder":
        from wcrun import ladder
        return ladder.main(rest)
    if cmd == "bench":
        from wcrun import paths
        if paths.installed():
            print("wirecheck bench: runs from a checkout only (it builds the load generator, a test helper that is "
                  "not installed, and rewrites tests/bench/RESULTS.md): scripts/bench", file=sys.stderr)
            return 2
        from wcrun import bench
        sys.argv = ["wirecheck bench"] + rest
        return bench.main()
    print(f"wirecheck: unknown subcommand {cmd!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
