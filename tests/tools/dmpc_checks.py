"""Shared helpers of the command-line test scripts: run `dmpc`, record checks, expect errors.

Bad input must end with a non-zero exit (not a crash: no signal) and exactly one line on stderr
that starts with "dmpc: error:" and names the problem.
"""
import json
import os
import subprocess
import sys


def train_args(config, out, settings, *extra):
    """`dmpc train` arguments: the configuration, the run directory, one --set per setting."""
    args = ["train", "--config", config, "--out", out]
    for s in settings:
        args += ["--set", s]
    return args + list(extra)


def metrics(run_dir):
    """The records of a run directory's metrics.jsonl."""
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


TIMING_FIELDS = ("wall_time", "steps_per_second", "collect_seconds", "update_seconds")


def learning_fields(records):
    """Everything but the timings, which differ between any two runs."""
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


class Checks:
    def __init__(self, dmpc, timeout=300):
        self.dmpc = dmpc
        self.timeout = timeout
        self.failures = []

    def run(self, *args):
        return subprocess.run([self.dmpc, *args], capture_output=True, text=True, timeout=self.timeout)

    def check(self, name, condition, detail=""):
        if not condition:
            self.failures.append(f"{name}: {detail}")
        print(("ok   " if condition else "FAIL ") + name)

    def expect_error(self, name, args, fragment):
        r = self.run(*args)
        lines = r.stderr.strip().splitlines()
        good = (r.returncode > 0 and len(lines) == 1 and lines[0].startswith("dmpc: error:")
                and fragment in lines[0])
        self.check(f"rejects {name}", good, f"exit {r.returncode}, stderr {r.stderr!r}")

    def finish(self, what):
        if self.failures:
            print(f"\n{len(self.failures)} failure(s):\n  " + "\n  ".join(self.failures))
            sys.exit(1)
        print(f"\nall {what} checks passed")
