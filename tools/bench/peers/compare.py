"""Runs the peer comparison (tools/bench/peers/run.sh calls it inside .peers-venv).

1. Reads the quadratic actor's weights from the configuration (configs/default.toml by default).
2. Makes B_max starts near a goal (fixed seed): the goal's balancing rest state offset by up to
   0.3 m, tilts perturbed by up to 2 mrad, ball velocities up to 0.05 m/s. The zero-input guess
   stays upright over the 1 s horizon, so every solver starts from the same feasible rollout.
3. Consistency: u_0 after 1 and after 3 iterations from the zero guess, ours against Crocoddyl's
   DDP and diffilqrax, on the first few starts; exits non-zero when any differs by more than
   --u-tol.
4. Timings (one thread each, medians over repeats, all in this run): single problems (ours vs
   Crocoddyl) for a fixed iteration count and to a cost tolerance; batches (our BatchActor vs
   diffilqrax under jax.vmap) for B = 1, 4, ..., 4096.
5. Writes peers.json and peers.md into --out.
"""
import argparse
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tomllib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def fail(msg):
    print(f"compare.py: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def read_weights(config_path):
    with open(config_path, "rb") as f:
        cfg = tomllib.load(f)
    actor = cfg.get("actor", {})
    ballbot = actor.get("ballbot", {})
    env = cfg.get("env", {}).get("ballbot", {})
    if float(actor.get("discount", 1.0)) != 1.0:
        fail("actor.discount must be 1 for this comparison (the peers' costs have no discount)")
    if float(actor.get("tilt_barrier_weight", 0.0)) != 0.0:
        fail("actor.tilt_barrier_weight must be 0 (the comparison does not reproduce the barrier)")
    return {
        "q": [float(v) for v in ballbot["q"]],
        "qf": [float(v) for v in ballbot["qf"]],
        "r": [float(v) for v in env["input_weight"]],
        "upright": [float(v) for v in actor["upright_weights"]],
    }


def balancing_tilt():
    # envs/ballbot/ballbot.hpp balancing_tilt() with ballbot_params.hpp's centre of mass
    sys.path.insert(0, os.path.join(HERE, "generated"))
    import ballbot_model as m
    roll = math.atan2(m.P_com_y, m.P_com_z)
    pitch = math.atan2(-m.P_com_x, math.sqrt(m.P_com_y ** 2 + m.P_com_z ** 2))
    return pitch, roll


def make_starts(path, count, seed=1):
    pitch, roll = balancing_tilt()
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        gx, gy = rng.uniform(-0.4, 0.4), rng.uniform(0.6, 1.0)
        x = np.zeros(10)
        x[0] = gx + rng.uniform(-0.3, 0.3)
        x[1] = gy + rng.uniform(-0.3, 0.3)
        x[3] = pitch + rng.uniform(-0.002, 0.002)
        x[4] = roll + rng.uniform(-0.002, 0.002)
        x[5:7] = rng.uniform(-0.05, 0.05, 2)
        rows.append(list(x) + [gx, gy])
    with open(path, "w") as f:
        for r in rows:
            f.write(" ".join(f"{v:.17g}" for v in r) + "\n")
    return np.array(rows)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def bench(binary, command, args, weights):
    cmd = [binary, command] + args + [
        "--q", ",".join(map(str, weights["q"])), "--qf", ",".join(map(str, weights["qf"])),
        "--r", ",".join(map(str, weights["r"])), "--upright", ",".join(map(str, weights["upright"]))]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="the built crocoddyl_bench")
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "default.toml"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--iters", type=int, default=3, help="iterations per solve in the timings")
    ap.add_argument("--batches", default="1,4,16,64,256,1024,4096")
    ap.add_argument("--check-count", type=int, default=4)
    ap.add_argument("--u-tol", type=float, default=1e-8, help="max |u0 difference| [N m]")
    ap.add_argument("--cost-tol", type=float, default=1e-9, help="relative cost tolerance for 'to tolerance'")
    ap.add_argument("--single-count", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--ours-build", default="portable", help="how our side was compiled (recorded in the output)")
    ap.add_argument("--native-bench", default="",
                    help="the same batch program built for this CPU (-march=native, no Crocoddyl): adds "
                         "rows of our solver compiled for the host, as XLA compiles JAX")
    ap.add_argument("--jax-budget", type=float, default=60.0,
                    help="skip larger batches once one diffilqrax batch solve takes longer than this [s]")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    knots, knot_dt = 50, 0.02
    batches = [int(b) for b in args.batches.split(",")]
    weights = read_weights(args.config)
    pitch, roll = balancing_tilt()
    rest = np.zeros(10)
    rest[3], rest[4] = pitch, roll
    starts_path = os.path.join(args.out, "starts.txt")
    starts = make_starts(starts_path, max(batches + [args.check_count, args.single_count]))
    goals = np.tile(rest, (len(starts), 1))
    goals[:, 0:2] = starts[:, 10:12]
    common = ["--starts", starts_path, "--knots", str(knots), "--knot-dt", str(knot_dt)]

    import jax
    import jax.numpy as jnp
    sys.path.insert(0, HERE)
    import jax_problem
    system = jax_problem.make_system(dict(weights, rest=rest), knots, knot_dt)

    # ---- consistency ----------------------------------------------------------------------------
    check = {"u_tol": args.u_tol, "starts": args.check_count, "runs": []}
    worst = 0.0
    for iters in (1, 3):
        c = bench(args.bench, "check", common + ["--count", str(args.check_count), "--iters", str(iters)], weights)
        solve = jax.jit(jax.vmap(jax_problem.make_solver(system, knots, iters)))
        u_jax, cost_jax = solve(jnp.asarray(starts[:args.check_count, :10]), jnp.asarray(goals[:args.check_count]))
        u_jax, cost_jax = np.asarray(u_jax), np.asarray(cost_jax)
        for i, p in enumerate(c["problems"]):
            ours = np.array(p["ours_u0"])
            d_croc = float(np.max(np.abs(ours - np.array(p["crocoddyl_u0"]))))
            d_jax = float(np.max(np.abs(ours - u_jax[i])))
            worst = max(worst, d_croc, d_jax)
            check["runs"].append({"iters": iters, "start": i, "ours_u0": p["ours_u0"],
                                  "crocoddyl_u0_diff": d_croc, "diffilqrax_u0_diff": d_jax,
                                  "ours_cost": p["ours_cost"], "crocoddyl_cost": p["crocoddyl_cost"],
                                  "diffilqrax_cost": float(cost_jax[i])})
            print(f"check iters={iters} start={i}: u0 ours {np.array2string(ours, precision=6)}; "
                  f"|Δ| Crocoddyl {d_croc:.1e}, diffilqrax {d_jax:.1e}", flush=True)
    check["worst_u0_diff"] = worst
    check["passed"] = worst <= args.u_tol
    if not check["passed"]:
        fail(f"the peers do not solve the same problem: worst u0 difference {worst:.3e} > {args.u_tol:.1e}")

    # ---- single problem: ours vs Crocoddyl ------------------------------------------------------
    single = bench(args.bench, "single", common + ["--count", str(args.single_count), "--iters", str(args.iters),
                                                   "--repeats", str(args.repeats)], weights)
    tol = bench(args.bench, "tol", common + ["--count", str(args.single_count), "--tol", str(args.cost_tol),
                                             "--repeats", str(args.repeats)], weights)

    # ---- batches: our BatchActor vs diffilqrax + vmap --------------------------------------------
    solve = jax_problem.make_solver(system, knots, args.iters)
    batch_rows = []
    skip_rest = False
    for B in batches:
        batch_args = common + ["--count", str(B), "--iters", str(args.iters),
                               "--repeats", str(max(3, min(args.repeats, 2000 // B)))]
        ours = bench(args.bench, "batch", batch_args, weights)
        row = {"batch": B, "ours_seconds": ours["seconds"], "ours_mean_iterations": ours["mean_iterations"]}
        if args.native_bench:
            native = bench(args.native_bench, "batch", batch_args, weights)
            d = float(np.max(np.abs(np.array(native["u0_first"]) - np.array(ours["u0_first"]))))
            if d > args.u_tol:
                fail(f"batch {B}: the native build's u0 differs from the portable one's by {d:.3e}")
            row["ours_native_seconds"] = native["seconds"]
            row["ours_native_u0_diff"] = d
        if not skip_rest:
            f = jax.jit(jax.vmap(solve))
            x0 = jnp.asarray(starts[:B, :10])
            g = jnp.asarray(goals[:B])
            t0 = time.perf_counter()
            f(x0, g)[0].block_until_ready()  # compile (not timed)
            row["diffilqrax_compile_seconds"] = time.perf_counter() - t0
            times = []
            reps = max(3, min(args.repeats, 256 // B))
            for _ in range(reps):
                t0 = time.perf_counter()
                f(x0, g)[0].block_until_ready()
                times.append(time.perf_counter() - t0)
                if times[-1] > args.jax_budget:
                    break
            row["diffilqrax_seconds"] = statistics.median(times)
            row["diffilqrax_repeats"] = len(times)
            row["ratio"] = row["diffilqrax_seconds"] / row["ours_seconds"]
            if "ours_native_seconds" in row:
                row["ratio_native"] = row["diffilqrax_seconds"] / row["ours_native_seconds"]
            if row["diffilqrax_seconds"] > args.jax_budget:
                skip_rest = True
        batch_rows.append(row)
        if "ours_native_seconds" in row:
            print(f"batch {B}: ours built for this CPU {row['ours_native_seconds']*1e3:.3f} ms", flush=True)
        print(f"batch {B}: ours {row['ours_seconds']*1e3:.3f} ms, diffilqrax "
              f"{row.get('diffilqrax_seconds', float('nan'))*1e3:.3f} ms", flush=True)

    result = {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "threads_used": 1},
        "ours_build": args.ours_build,
        "versions": {name: importlib.metadata.version(name) for name in ("jax", "diffilqrax", "crocoddyl")},
        "problem": {"knots": knots, "knot_dt": knot_dt, "integrator": "explicit Euler", "weights": weights,
                    "config": os.path.relpath(args.config, ROOT), "iterations": args.iters,
                    "guess": "zero inputs", "input_limits": "none"},
        "check": check, "single": single, "to_tolerance": tol, "batches": batch_rows,
    }
    with open(os.path.join(args.out, "peers.json"), "w") as f:
        json.dump(result, f, indent=1)
    write_markdown(result, os.path.join(args.out, "peers.md"))
    print(open(os.path.join(args.out, "peers.md")).read())


def write_markdown(r, path):
    med = statistics.median
    s, t = r["single"], r["to_tolerance"]
    it = r["problem"]["iterations"]
    us = lambda v: f"{v * 1e6:,.1f}"  # noqa: E731
    ms = lambda v: f"{v * 1e3:,.3f}"  # noqa: E731
    o_s, c_s = med(s["ours_seconds"]), med(s["crocoddyl_seconds"])
    o_t, c_t = med(t["ours_seconds"]), med(t["crocoddyl_seconds"])
    lines = [
        f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores; every solver on one thread; "
        f"ours compiled {r.get('ours_build', 'portable')}.",
        f"Problem: Ballbot, N = {r['problem']['knots']} knots of {r['problem']['knot_dt'] * 1e3:.0f} ms, explicit Euler, "
        f"quadratic actor cost of `{r['problem']['config']}`, zero initial guess, no input limits.",
        f"Consistency: u₀ after 1 and 3 iterations on {r['check']['starts']} starts, worst difference to ours "
        f"{r['check']['worst_u0_diff']:.1e} N·m (tolerance {r['check']['u_tol']:.0e}): "
        f"{'passed' if r['check']['passed'] else 'FAILED'}.",
        "",
        "| peer | batch | iterations | peer per iteration | ours per iteration | peer per solve | ours per solve | peer / ours |",
        "|---|---|---|---|---|---|---|---|",
        f"| Crocoddyl {r['versions']['crocoddyl']} DDP | 1 | {it} | {us(c_s / it)} µs | {us(o_s / it)} µs | "
        f"{us(c_s)} µs | {us(o_s)} µs | {c_s / o_s:.2f} |",
        f"| Crocoddyl DDP, to cost tolerance {t['tol']:.0e} | 1 | {med(t['crocoddyl_iterations']):g} (ours "
        f"{med(t['ours_iterations']):g}) | {us(c_t / med(t['crocoddyl_iterations']))} µs | "
        f"{us(o_t / med(t['ours_iterations']))} µs | {us(c_t)} µs | {us(o_t)} µs | {c_t / o_t:.2f} |",
    ]
    for b in r["batches"]:
        if "diffilqrax_seconds" in b:
            lines.append(
                f"| diffilqrax {r['versions']['diffilqrax']} (JAX {r['versions']['jax']}, vmap) | {b['batch']} | {it} | "
                f"{ms(b['diffilqrax_seconds'] / it)} ms | {ms(b['ours_seconds'] / it)} ms | "
                f"{ms(b['diffilqrax_seconds'])} ms | {ms(b['ours_seconds'])} ms | {b['ratio']:.1f} |")
        else:
            lines.append(f"| diffilqrax (skipped: over the time budget) | {b['batch']} | {it} | – | "
                         f"{ms(b['ours_seconds'] / it)} ms | – | {ms(b['ours_seconds'])} ms | – |")
    for b in r["batches"]:
        if "diffilqrax_seconds" in b and "ours_native_seconds" in b:
            lines.append(
                f"| diffilqrax, against ours built `-march=native` | {b['batch']} | {it} | "
                f"{ms(b['diffilqrax_seconds'] / it)} ms | {ms(b['ours_native_seconds'] / it)} ms | "
                f"{ms(b['diffilqrax_seconds'])} ms | {ms(b['ours_native_seconds'])} ms | {b['ratio_native']:.1f} |")
    lines.append("")
    lines.append("Times are medians over repeats; a batch's time is the whole batch (B problems); per iteration "
                 "is per solve over the iterations (the initial rollout included). Line-search trials per "
                 f"iteration (single problems): ours {med(s['ours_trials_per_iteration']):.2f}, Crocoddyl "
                 f"{med(s['crocoddyl_trials_per_iteration']):.2f}.")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
