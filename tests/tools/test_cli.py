#!/usr/bin/python3
"""The `dmpc` command line: output contracts and rejection of bad input.

Usage: /usr/bin/python3 tests/tools/test_cli.py <path-to-dmpc> <source-dir>

Bad input must get one clear line on stderr (tests/tools/dmpc_checks.py).
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dmpc_checks import Checks  # noqa: E402

DMPC, SOURCE = sys.argv[1], sys.argv[2]
checks = Checks(DMPC)
run, check, expect_error = checks.run, checks.check, checks.expect_error


EQ = "0,0,0,-0.015334039,0.0168695652,0,0,0,0,0"

# ---- dynamics: one line of nx numbers with 17 significant digits -------------------------------
r = run("dynamics", "--env", "ballbot", "--x", "0.1,-0.2,0.3,-0.04,0.05,0.1,0.2,-0.3,0.4,-0.5",
        "--u", "1,-2,0.5")
fields = r.stdout.strip().split(",")
check("dynamics prints one line of 10 numbers", r.returncode == 0 and len(fields) == 10
      and r.stdout.count("\n") == 1, r.stdout + r.stderr)
check("dynamics uses 17 significant digits",
      all(f"{float(v):.17g}" == v for v in fields), r.stdout)
r = run("dynamics", "--env", "point_mass", "--x", "-1,2,3,-4", "--u", "-0.5,1")
check("point-mass dynamics with negative values", r.stdout.strip() == "3,-4,-0.5,1", r.stdout + r.stderr)

# ---- bad input -----------------------------------------------------------------------------------
expect_error("a wrong state count", ["dynamics", "--env", "ballbot", "--x", "1,2,3", "--u", "0,0,0"],
             "--x: expected 10 numbers, got 3")
expect_error("a wrong input count", ["dynamics", "--env", "point_mass", "--x", "1,2,3,4", "--u", "0"],
             "--u: expected 2 numbers, got 1")
expect_error("a non-number", ["dynamics", "--env", "point_mass", "--x", "1,abc,3,4", "--u", "0,0"],
             "element 1 \"abc\" is not a number")
expect_error("NaN", ["dynamics", "--env", "point_mass", "--x", "1,nan,3,4", "--u", "0,0"],
             "not a finite number")
expect_error("infinity", ["dynamics", "--env", "point_mass", "--x", "1,2,3,4", "--u", "inf,0"],
             "not a finite number")
expect_error("an empty element", ["dynamics", "--env", "point_mass", "--x", "1,,3,4", "--u", "0,0"],
             "element 1 is empty")
expect_error("an unknown system", ["dynamics", "--env", "segway", "--x", "1", "--u", "0"],
             "unknown system \"segway\"")
expect_error("an unknown option", ["dynamics", "--env", "ballbot", "--x", EQ, "--u", "0,0,0", "--fast"],
             "--fast")
expect_error("a missing option", ["dynamics", "--env", "ballbot", "--x", EQ], "--u")
expect_error("an unknown command", ["fly"], "fly")
expect_error("no command", [], "subcommand")

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "traj.csv")
    base = ["simulate", "--env", "ballbot", "--x0", EQ, "--u", "0,0,0", "--dt", "0.01"]
    expect_error("zero steps", base + ["--steps", "0", "--out", out], "--steps")
    expect_error("a negative step", ["simulate", "--env", "ballbot", "--x0", EQ, "--u", "0,0,0",
                                     "--dt", "-0.01", "--steps", "5", "--out", out], "--dt")
    expect_error("a NaN noise level", base + ["--steps", "5", "--noise", "nan", "--out", out], "--noise")
    expect_error("noise with rk4", base + ["--steps", "5", "--noise", "0.1", "--integrator", "rk4",
                                           "--out", out], "euler")
    expect_error("an unknown integrator", base + ["--steps", "5", "--integrator", "rk45", "--out", out],
                 "rk45")

    # ---- simulate: CSV contract, determinism of the noise, nothing lost on error ------------------
    r = run(*base, "--steps", "20", "--out", out)
    with open(out) as f:
        rows = f.read().strip().splitlines()
    check("simulate writes a header and steps + 1 rows",
          r.returncode == 0 and rows[0] == "t," + ",".join(f"x{i}" for i in range(10))
          and len(rows) == 22 and all(len(row.split(",")) == 11 for row in rows[1:]),
          r.stderr + str(rows[:2]))
    check("simulate prints a summary", "energy T+U" in r.stdout and "wrote" in r.stdout, r.stdout)
    saved = open(out).read()
    expect_error("a bad state without touching the saved file",
                 ["simulate", "--env", "ballbot", "--x0", "1,2", "--u", "0,0,0", "--dt", "0.01",
                  "--steps", "5", "--out", out], "--x0")
    check("the earlier output is intact", open(out).read() == saved)

    noisy = ["simulate", "--env", "point_mass", "--x0", "0,0,0,0", "--u", "0,0", "--dt", "0.01",
             "--steps", "50", "--noise", "0.1"]
    texts = []
    for seed, name in (("3", "a.csv"), ("3", "b.csv"), ("4", "c.csv")):
        run(*noisy, "--seed", seed, "--out", os.path.join(tmp, name))
        texts.append(open(os.path.join(tmp, name)).read())
    check("the same seed gives the same noisy trajectory", texts[0] == texts[1])
    check("another seed gives another trajectory", texts[0] != texts[2])

    # ---- rollout: the batched environment end to end ---------------------------------------------
    # Every shipped configuration reads (every section, unknown keys refused) and runs.
    for name in sorted(os.listdir(os.path.join(SOURCE, "configs"))):
        if name.endswith(".toml"):
            r = run("rollout", "--config", os.path.join(SOURCE, "configs", name), "--set", "env.batch=2", "--json")
            check(f"configs/{name} is a valid configuration", r.returncode == 0, r.stderr)
    config = os.path.join(SOURCE, "configs", "default.toml")
    r = run("rollout", "--config", config, "--set", "env.batch=16", "--json")
    try:
        summary = json.loads(r.stdout)
    except json.JSONDecodeError:
        summary = {}
    check("rollout --json prints one object", r.returncode == 0 and summary.get("batch") == 16,
          r.stdout + r.stderr)
    check("uncontrolled Ballbots fall", summary.get("fall_rate") == 1.0, r.stdout)
    r = run("rollout", "--config", config, "--eval", "--set", "env.system=point_mass", "--json")
    summary = json.loads(r.stdout) if r.returncode == 0 else {}
    check("point masses at rest on the evaluation starts time out",
          summary.get("timeout_rate") == 1.0 and summary.get("batch") == 8, r.stdout + r.stderr)

    bad = os.path.join(tmp, "bad.toml")
    with open(bad, "w") as f:
        f.write("[task]\npenalty = 20\nbogus = 1\n")
    expect_error("an unknown configuration key", ["rollout", "--config", bad], "unknown key task.bogus")
    with open(bad, "w") as f:
        f.write("[task\npenalty = 20\n")
    expect_error("malformed TOML", ["rollout", "--config", bad], "malformed TOML")
    expect_error("an out-of-range override", ["rollout", "--config", config, "--set", "task.penalty=-1"],
                 "task.penalty: -1 is out of range")
    expect_error("a missing configuration file", ["rollout", "--config", os.path.join(tmp, "none.toml")],
                 "cannot open")

# ---- value files, mpc and bench ------------------------------------------------------------------
with tempfile.TemporaryDirectory() as tmp:
    value = os.path.join(tmp, "v.bin")
    r = run("value", "init", "--env", "ballbot", "--out", value, "--seed", "3")
    check("value init writes a network", r.returncode == 0 and os.path.exists(value), r.stderr)
    r = run("value", "show", "--value", value)
    shape = json.loads(r.stdout) if r.returncode == 0 else {}
    check("value show prints the shape", shape.get("inputs") == 13 and shape.get("width") == 12
          and shape.get("depth") == 3, r.stdout + r.stderr)

    def mpc(*extra):
        r = run("mpc", *extra)
        try:
            return r, json.loads(r.stdout)
        except json.JSONDecodeError:
            return r, {}

    r, out = mpc("--env", "point_mass", "--x0", "0.3,-0.2,0,0", "--goal", "0,0.8", "--tau", "3",
                 "--horizon", "1", "--knot-dt", "0.05", "--iters", "4", "--cost", "quadratic")
    costs = out.get("cost", [])
    check("mpc prints u0, K0, cost, iterations, converged, solve_seconds",
          len(out.get("u0", [])) == 2 and len(out.get("K0", [])) == 8
          and 2 <= len(costs) <= 5 and out.get("iterations") == len(costs) - 1
          and isinstance(out.get("converged"), bool) and out.get("solve_seconds", -1) >= 0,
          r.stdout + r.stderr)
    check("mpc cost never increases", all(b <= a for a, b in zip(costs, costs[1:])), str(costs))
    r, out = mpc("--env", "ballbot", "--x0", "0.3,-0.6,0,-0.0153,0.0169,0,0,0,0,0", "--goal", "0,0.8",
                 "--tau", "0.5", "--horizon", "1", "--knot-dt", "0.02", "--iters", "2", "--cost", "dmpc",
                 "--value", value, "--gamma", "0.9")
    check("mpc with the DMPC cost and a shrunk horizon", len(out.get("u0", [])) == 3
          and len(out.get("K0", [])) == 30 and out.get("knots") == 25, r.stdout + r.stderr)

    base = ["mpc", "--env", "ballbot", "--x0", EQ, "--tau", "3", "--horizon", "1", "--knot-dt", "0.02",
            "--iters", "2"]
    expect_error("dmpc cost without a value network", base + ["--cost", "dmpc"], "needs --value")
    expect_error("a wrong Q count", base + ["--cost", "quadratic", "--Q", "1,2,3"],
                 "--Q: expected 10 numbers, got 3")
    expect_error("a non-positive R", base + ["--cost", "quadratic", "--R", "1,0,1"], "--R")
    expect_error("a horizon that is not a whole number of knots",
                 ["mpc", "--env", "ballbot", "--x0", EQ, "--tau", "3", "--horizon", "1",
                  "--knot-dt", "0.03", "--iters", "1", "--cost", "quadratic"], "--horizon")
    expect_error("zero iterations", ["mpc", "--env", "ballbot", "--x0", EQ, "--tau", "3", "--horizon",
                                     "1", "--knot-dt", "0.02", "--iters", "0", "--cost", "quadratic"],
                 "--iters")
    expect_error("an unknown cost", base + ["--cost", "mppi"], "mppi")
    pm_value = os.path.join(tmp, "pm.bin")
    run("value", "init", "--env", "point_mass", "--out", pm_value)
    expect_error("a value network for another system", base + ["--cost", "dmpc", "--value", pm_value],
                 "takes 7 inputs")
    broken = os.path.join(tmp, "broken.bin")
    with open(value, "rb") as f:
        data = bytearray(f.read())
    data[100] ^= 0xFF
    with open(broken, "wb") as f:
        f.write(data)
    expect_error("a corrupted value network", base + ["--cost", "dmpc", "--value", broken], broken)
    expect_error("a missing value network", base + ["--cost", "terminal", "--value",
                                                    os.path.join(tmp, "none.bin")], "none.bin")

    r = run("bench", "actor", "--env", "ballbot", "--cost", "dmpc", "--batch", "4", "--knots", "10",
            "--iters", "1", "--threads", "1", "--rounds", "1", "--steps", "2")
    try:
        bench = json.loads(r.stdout)
    except json.JSONDecodeError:
        bench = {}
    check("bench actor prints its figures as JSON",
          bench.get("batch") == 4 and bench.get("knots") == 10 and bench.get("backend") == "cpu"
          and bench.get("us_per_knot_iteration", 0) > 0 and bench.get("solves_per_second", 0) > 0,
          r.stdout + r.stderr)

r = run("bench", "env", "--backend", "cpu", "--env", "ballbot", "--batch", "64", "--steps", "20",
        "--rounds", "1", "--threads", "1")
try:
    bench = json.loads(r.stdout)
except json.JSONDecodeError:
    bench = {}
check("bench env prints its figures as JSON",
      bench.get("bench") == "env" and bench.get("batch") == 64 and bench.get("substeps_per_second", 0) > 0
      and 0 < bench.get("integrated_fraction", 0) <= 1, r.stdout + r.stderr)
r = run("bench", "env", "--backend", "cuda", "--batch", "64", "--steps", "5")
check("bench env on CUDA without a device (or without the backend) says so",
      r.returncode != 0 and r.stderr.startswith("dmpc: error: --backend cuda"), r.stderr)
r = run("info")
check("info names the build's parts and the devices",
      r.returncode == 0 and all(k in r.stdout for k in ("CUDA backend:", "LibTorch:", "CUDA devices:", "MPI:", "NCCL:")),
      r.stdout + r.stderr)
r = run("bench", "actor", "--backend", "cuda", "--batch", "4")
check("bench actor on CUDA without a device (or without the backend) says so",
      r.returncode != 0 and r.stderr.startswith("dmpc: error: --backend cuda"), r.stderr)
r = run("eval", "--checkpoint", "no-such-run", "--backend", "cuda")
check("eval on CUDA without a device (or without the backend) says so",
      r.returncode != 0 and r.stderr.startswith("dmpc: error: --backend cuda"), r.stderr)
r = run("eval", "--checkpoint", "no-such-run", "--backend", "tpu")
check("eval refuses an unknown backend, naming it", r.returncode != 0 and "tpu" in r.stderr, r.stderr)

# The training backend: cuda where there is none is refused before the run directory exists.
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "run")
    r = run("train", "--config", os.path.join(SOURCE, "configs", "default.toml"), "--backend", "cuda", "--out", out)
    check("train --backend cuda without a GPU is a one-line error naming the backend",
          r.returncode != 0 and r.stderr.startswith("dmpc: error: backend = \"cuda\"")
          and "CUDA" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr)
    check("... and leaves no run directory behind", not os.path.exists(out))
    r = run("train", "--config", os.path.join(SOURCE, "configs", "default.toml"), "--set", "critic.device=cpu",
            "--set", "critic.allreduce=nccl", "--set", "train.iterations=1", "--out", out)
    check("critic.allreduce = nccl with the critic on the CPU is refused",
          r.returncode != 0 and "critic.allreduce" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr)
    r = run("train", "--config", os.path.join(SOURCE, "configs", "default.toml"), "--backend", "gpu", "--out", out)
    check("train --backend with an unknown name is refused", r.returncode != 0 and "--backend" in r.stderr, r.stderr)

checks.finish("CLI")
