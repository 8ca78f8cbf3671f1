"""The GPU half of the peer comparison: our CUDA actor against diffilqrax (JAX, vmap) on one GPU.

Run on a machine with a GPU, JAX for CUDA and the wheels of diffilqrax and jaxopt (tools/gpu-check.sh
does it when DMPC_GPU_PEERS=1; see README "Against peers"). The problem is compare.py's: the same
starts (fixed seed), the quadratic actor cost of the configuration, the zero input guess, explicit
Euler knots, no input limits, exactly --iters iterations — here in float32 on both sides (JAX's
default on a GPU; our GPU actor is float32).

1. Ours: tools/bench/peers/gpu_batch_bench (built against libdmpc_cuda.a), both GPU layouts, for
   every batch size: the median time of one batch solve (CUDA events).
2. diffilqrax: jax.jit(jax.vmap(solve)) on the GPU, compiled first (not timed), then the median of
   --repeats timed calls (block_until_ready).
3. Consistency: u₀ of the first --check starts from both, |Δ| ≤ --u-tol · (1 + |u₀|).
4. Writes gpu-peers.json and gpu-peers.md into --out.
"""
import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (read_weights, balancing_tilt, make_starts)


def ours(bench, layout, starts_path, batches, iters, repeats, check, weights):
    cmd = [bench, "--starts", starts_path, "--batches", ",".join(map(str, batches)), "--iters", str(iters),
           "--repeats", str(repeats), "--layout", layout, "--check", str(check),
           "--q", ",".join(map(str, weights["q"])), "--qf", ",".join(map(str, weights["qf"])),
           "--r", ",".join(map(str, weights["r"])), "--upright", ",".join(map(str, weights["upright"]))]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return {row["batch"]: row for row in map(json.loads, out.stdout.strip().splitlines())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="the built gpu_batch_bench")
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "default.toml"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--batches", default="256,1024,4096,16384")
    ap.add_argument("--check", type=int, default=4)
    ap.add_argument("--u-tol", type=float, default=2e-3, help="max |u0 difference| / (1 + |u0|), float32")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    knots, knot_dt = 50, 0.02
    batches = [int(b) for b in args.batches.split(",")]
    weights = compare.read_weights(args.config)
    pitch, roll = compare.balancing_tilt()
    rest = np.zeros(10)
    rest[3], rest[4] = pitch, roll
    starts_path = os.path.join(args.out, "gpu-starts.txt")
    starts = compare.make_starts(starts_path, max(batches + [args.check]))
    goals = np.tile(rest, (len(starts), 1))
    goals[:, 0:2] = starts[:, 10:12]

    layouts = {}
    for layout in ("thread_per_problem", "knot_parallel"):
        layouts[layout] = ours(args.bench, layout, starts_path, batches, args.iters, args.repeats, args.check, weights)
        for b in batches:
            print(f"ours {layout} batch {b}: {layouts[layout][b]['seconds'] * 1e3:.3f} ms", flush=True)

    import jax
    import jax_problem  # turns x64 on at import; the GPU comparison runs in float32
    jax.config.update("jax_enable_x64", False)
    import jax.numpy as jnp
    device = str(jax.devices()[0])
    system = jax_problem.make_system(dict(weights, rest=rest.astype(np.float32)), knots, knot_dt)
    solve = jax.jit(jax.vmap(jax_problem.make_solver(system, knots, args.iters)))
    rows = []
    worst = 0.0
    for B in batches:
        x0 = jnp.asarray(starts[:B, :10], dtype=jnp.float32)
        g = jnp.asarray(goals[:B], dtype=jnp.float32)
        t0 = time.perf_counter()
        u_jax = np.asarray(solve(x0, g)[0].block_until_ready())
        compile_s = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            solve(x0, g)[0].block_until_ready()
            times.append(time.perf_counter() - t0)
        best_layout = min(layouts, key=lambda l: layouts[l][B]["seconds"])
        ours_s = layouts[best_layout][B]["seconds"]
        for layout in layouts:
            for i, u in enumerate(layouts[layout][B]["u0"]):
                d = np.max(np.abs(np.array(u) - u_jax[i]) / (1.0 + np.abs(u_jax[i])))
                worst = max(worst, float(d))
        row = {"batch": B, "diffilqrax_seconds": statistics.median(times), "diffilqrax_compile_seconds": compile_s,
               "ours_seconds": {l: layouts[l][B]["seconds"] for l in layouts}, "ours_best_layout": best_layout,
               "ratio": statistics.median(times) / ours_s}
        rows.append(row)
        print(f"batch {B}: diffilqrax {row['diffilqrax_seconds'] * 1e3:.3f} ms, ours ({best_layout}) "
              f"{ours_s * 1e3:.3f} ms, ratio {row['ratio']:.1f}", flush=True)
    first = layouts["thread_per_problem"][batches[0]]
    result = {
        "device": first["device"], "jax_device": device,
        "versions": {n: importlib.metadata.version(n) for n in ("jax", "jaxlib", "diffilqrax")},
        "problem": {"knots": knots, "knot_dt": knot_dt, "integrator": "explicit Euler", "precision": "float32",
                    "iterations": args.iters, "guess": "zero inputs", "input_limits": "none",
                    "config": os.path.relpath(args.config, ROOT)},
        "check": {"starts": args.check, "u_tol_relative": args.u_tol, "worst": worst, "passed": worst <= args.u_tol},
        "batches": rows,
    }
    with open(os.path.join(args.out, "gpu-peers.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = [
        f"GPU: {result['device']}; JAX {result['versions']['jax']} on {device}; float32 on both sides; "
        f"{args.iters} iterations from the zero guess, N = {knots}, h = {knot_dt * 1e3:.0f} ms.",
        f"Consistency: u₀ on {args.check} starts, worst |Δ|/(1+|u₀|) = {worst:.1e} (tolerance {args.u_tol:.0e}): "
        f"{'passed' if result['check']['passed'] else 'FAILED'}.",
        "",
        "| batch | diffilqrax per batch solve | ours, thread per problem | ours, knot-parallel | diffilqrax / ours (best) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['batch']} | {r['diffilqrax_seconds'] * 1e3:.3f} ms | "
                     f"{r['ours_seconds']['thread_per_problem'] * 1e3:.3f} ms | "
                     f"{r['ours_seconds']['knot_parallel'] * 1e3:.3f} ms | {r['ratio']:.1f} |")
    with open(os.path.join(args.out, "gpu-peers.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if result["check"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
