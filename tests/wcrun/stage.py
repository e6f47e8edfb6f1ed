"""`python3 -m wcrun.stage N RESULTS_DIR STAGE -- PYTEST_ARGS...`: one stage of a run (the native scenarios,
or the netem ones inside one User-Mode Linux boot), repeated N times. Repeat i writes RESULTS_DIR/STAGE-i.json
and, when N > 1, its captures under $WIRECHECK_CAPTURES/rep-i. Exits 0 when every repeat ran (pytest 0 or
1: failures are the report's business), 5 when none collected a scenario, else pytest's status."""
import os
import signal
import subprocess
import sys


def main(argv):
    n, results, stage = int(argv[0]), argv[1], argv[2]
    args = argv[4:] if argv[3:4] == ["--"] else argv[3:]
    base = os.environ.get("WIRECHECK_CAPTURES")
    status = 0
    child = None

    def forward(sig, _frame):
        if child is not None and child.poll() is None:
            child.send_signal(sig)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for i in range(n):
        env = dict(os.environ)
        if n > 1 and base:
            env["WIRECHECK_CAPTURES"] = os.path.join(base, f"rep-{i + 1:02d}")
        child = subprocess.Popen([sys.executable, "-m", "pytest", *args, "--results-file",
                                  os.path.join(results, f"{stage}-{i}.json")], env=env)
        rc = child.wait()
        if rc < 0 or rc in (2, 130, 143):     # interrupted: stop repeating
            return 130 if rc in (-signal.SIGINT, 2, 130) else 143
        if rc == 5:
            return 5
        if rc not in (0, 1):
            status = rc
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
