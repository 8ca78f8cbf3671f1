#!/usr/bin/python3
"""Compare `dmpc dynamics` against the independent numpy references.

Usage: /usr/bin/python3 check_dynamics_cli.py <path-to-dmpc-binary> [--count N] [--seed S]

For N random states of each system runs

    <dmpc> dynamics --env <ballbot|point_mass> --x <comma-separated> --u <comma-separated>

which must print one line, xdot as comma-separated numbers. Per state the error is
max_k |a_k - b_k| / max(||b||_inf, 1) (a: CLI, b: reference); every state must stay within 1e-9.
Exits 1 if any state exceeds it or the CLI fails, 0 otherwise.
"""
import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ballbot_newton_euler as ballbot  # noqa: E402  (needs the path set above)

THRESHOLD = 1e-9
CALL_TIMEOUT_S = 30.0


def point_mass_xdot(x, u):
    """Planar point mass, 1 kg, no friction: state (px, py, vx, vy), force per axis."""
    return np.array([x[2], x[3], u[0], u[1]])


def sample_ballbot(rng):
    x = np.concatenate([rng.uniform(-1.5, 1.5, 2),          # px, py
                        rng.uniform(-np.pi, np.pi, 1),      # yaw
                        rng.uniform(-0.45, 0.45, 2),        # pitch, roll
                        rng.uniform(-2.0, 2.0, 5)])         # rates
    return x, rng.uniform(-10.0, 10.0, 3)


def sample_point_mass(rng):
    x = np.concatenate([rng.uniform(-1.5, 1.5, 2), rng.uniform(-2.0, 2.0, 2)])
    return x, rng.uniform(-10.0, 10.0, 2)


SYSTEMS = {
    "ballbot": (sample_ballbot, ballbot.xdot),
    "point_mass": (sample_point_mass, point_mass_xdot),
}


def _format(values):
    # repr() is the shortest string that round-trips the double exactly.
    return ",".join(repr(float(v)) for v in values)


def run_cli(binary, env, x, u):
    """Returns (xdot, None) on success or (None, error message)."""
    cmd = [binary, "dynamics", "--env", env, "--x", _format(x), "--u", _format(u)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CALL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{' '.join(cmd)}: {exc}"
    if proc.returncode != 0:
        return None, f"{' '.join(cmd)}: exit status {proc.returncode}: {proc.stderr.strip()}"
    lines = proc.stdout.strip().splitlines()
    try:
        if len(lines) != 1:
            raise ValueError(f"expected one line, got {len(lines)}")
        values = np.array([float(tok) for tok in lines[0].split(",")])
        if values.size != x.size:
            raise ValueError(f"expected {x.size} numbers, got {values.size}")
        if not np.all(np.isfinite(values)):
            raise ValueError("non-finite value")
    except ValueError as exc:
        return None, f"{' '.join(cmd)}: cannot parse output {proc.stdout!r}: {exc}"
    return values, None


def check_system(binary, env, count, rng, pool):
    """Returns (worst error, index of worst state, list of CLI failures)."""
    sample, reference = SYSTEMS[env]
    cases = [sample(rng) for _ in range(count)]
    results = list(pool.map(lambda case: run_cli(binary, env, *case), cases))
    worst, worst_index, failures = 0.0, -1, []
    for i, ((x, u), (got, error)) in enumerate(zip(cases, results)):
        if error is not None:
            failures.append(error)
            continue
        want = reference(x, u)
        err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1.0)
        if err > worst or worst_index < 0:
            worst, worst_index = err, i
    if worst > THRESHOLD:
        x, u = cases[worst_index]
        print(f"  worst {env} state: --x {_format(x)} --u {_format(u)}")
        print(f"    cli       {_format(results[worst_index][0])}")
        print(f"    reference {_format(reference(x, u))}")
    return worst, worst_index, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", help="path to the dmpc executable")
    parser.add_argument("--count", type=int, default=200, help="random states per system")
    parser.add_argument("--seed", type=int, default=0, help="numpy Generator seed")
    args = parser.parse_args()

    if not (os.path.isfile(args.binary) and os.access(args.binary, os.X_OK)):
        print(f"error: dmpc binary not found or not executable: {args.binary}", file=sys.stderr)
        return 1

    rng = np.random.default_rng(args.seed)
    ok = True
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
        for env in SYSTEMS:
            worst, index, failures = check_system(args.binary, env, args.count, rng, pool)
            for message in failures[:3]:
                print(f"  CLI failure: {message}")
            passed = not failures and worst <= THRESHOLD
            ok = ok and passed
            print(f"[{'PASS' if passed else 'FAIL'}] {env}: worst relative error {worst:.3e} "
                  f"(state {index}) over {args.count - len(failures)} states, "
                  f"{len(failures)} CLI failures, threshold {THRESHOLD:.0e}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
