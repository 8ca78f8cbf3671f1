#!/usr/bin/python3
"""The GPU training backend against the CPU one: `dmpc train --backend cuda` vs `--backend cpu`.

Usage: python3 tests/tools/test_backends.py <path-to-dmpc> <source-dir>

The same configuration and seed on both backends: the environments and MPC actors run in float64
on the CPU and in float32 on the GPU (cuda/device_rollout), the critic is the same LibTorch code.
The episodes' figures must agree to float rounding, the critic's loss and the evaluations (which
run on the CPU from the trained critic) within the tolerances stated below, and two GPU runs must
be identical. Then `dmpc eval --backend cuda` against `--backend cpu` on the trained checkpoint.
Exits 77 (skipped) where there is no CUDA backend or device.
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dmpc_checks import Checks, learning_fields, metrics, train_args  # noqa: E402

DMPC, SOURCE = sys.argv[1], sys.argv[2]
CONFIG = os.path.join(SOURCE, "configs", "paper.toml")  # the paper's settings: what these checks were sized for
# The CI training test's point-mass problem, shorter.
SETTINGS = ["env.system=point_mass", "env.batch=32", "env.threads=2", "train.iterations=8",
            "train.eval_every=4", "train.checkpoint_every=4", "critic.n_step=10",
            "env.process_noise=0.005", "task.walls=[]", "actor.cost=terminal",
            "actor.task_running_cost=false", "critic.engine=libtorch"]
checks = Checks(DMPC)
run, check = checks.run, checks.check

with tempfile.TemporaryDirectory() as tmp:
    probe = run(*train_args(CONFIG, os.path.join(tmp, "probe"), SETTINGS + ["train.iterations=1"], "--backend", "cuda"))
    if probe.returncode != 0 and ("no CUDA device" in probe.stderr or "no CUDA backend" in probe.stderr):
        print("skipped: " + probe.stderr.strip())
        sys.exit(77)
    runs = {}
    for name, backend in (("cpu", "cpu"), ("gpu", "cuda"), ("gpu-again", "cuda")):
        out = os.path.join(tmp, name)
        r = run(*train_args(CONFIG, out, SETTINGS, "--backend", backend))
        check(f"train --backend {backend} runs to the end", r.returncode == 0, r.stdout[-1500:] + r.stderr)
        runs[name] = metrics(out) if r.returncode == 0 else []
    cpu, gpu = runs["cpu"], runs["gpu"]
    check("both backends wrote every iteration", len(cpu) == len(gpu) == 9, f"{len(cpu)} vs {len(gpu)}")
    check("two GPU runs with the same seed are identical",
          learning_fields(runs["gpu"]) == learning_fields(runs["gpu-again"]))

    def close(a, b, rel, abs_):
        return a is not None and b is not None and abs(a - b) <= abs_ + rel * max(abs(a), abs(b))

    # Tolerances: the episodes are the same problems in float32 vs float64 (rounding ~1e-6 relative
    # per step, amplified by the MPC's line search at most a little): mean cost 1e-3 relative, rates
    # within one episode in 32. The critic then learns from slightly different numbers: its loss
    # within 10 %, the evaluation cost within 5 %.
    worst = {}
    for c, g in zip(cpu, gpu):
        it = c["iteration"]
        pairs = [("train_mean_cost", 1e-3, 1e-4), ("train_success_rate", 0, 1 / 32 + 1e-9),
                 ("train_collision_rate", 0, 1 / 32 + 1e-9), ("train_fall_rate", 0, 1 / 32 + 1e-9),
                 ("critic_loss", 0.10, 1e-6), ("eval_mean_cost", 0.05, 1e-4)]
        for key, rel, abs_ in pairs:
            if key not in c and key not in g:
                continue
            a, b = c.get(key), g.get(key)
            if a is not None and b is not None:
                worst[key] = max(worst.get(key, 0), abs(a - b) / max(1e-12, abs(a), abs(b)))
            check(f"iteration {it}: {key} agrees (cpu {a}, gpu {b})", close(a, b, rel, abs_))
    print("largest relative CPU/GPU differences: " + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()))

    # dmpc eval on both backends from the same (GPU-trained) checkpoint, with process noise: the
    # same episodes, ended the same way; costs within 1e-3 relative (float32 against float64).
    results = {}
    for backend in ("cpu", "cuda"):
        out = os.path.join(tmp, f"eval-{backend}.json")
        r = run("eval", "--checkpoint", os.path.join(tmp, "gpu"), "--backend", backend, "--noise", "0.005",
                "--episodes", "2", "--out", out)
        check(f"eval --backend {backend} runs", r.returncode == 0, r.stdout[-1500:] + r.stderr)
        results[backend] = json.load(open(out)) if r.returncode == 0 else {"episodes": []}
    c_eps, g_eps = results["cpu"]["episodes"], results["cuda"]["episodes"]
    check("eval: both backends ran every episode", len(c_eps) == len(g_eps) == 16, f"{len(c_eps)} vs {len(g_eps)}")
    check("eval: the JSON names the backend",
          results["cpu"].get("backend") == "cpu" and results["cuda"].get("backend") == "cuda")
    worst_eval = 0.0
    for c, g in zip(c_eps, g_eps):
        where = f"start {c['start']} episode {c['episode']}"
        check(f"eval {where}: same ending (cpu {c['reason']}, gpu {g['reason']})",
              c["reason"] == g["reason"] and c["success"] == g["success"])
        check(f"eval {where}: cost agrees (cpu {c['cost']}, gpu {g['cost']})", close(c["cost"], g["cost"], 1e-3, 1e-4))
        check(f"eval {where}: same number of steps", len(c["px"]) == len(g["px"]))
        worst_eval = max(worst_eval, abs(c["cost"] - g["cost"]) / max(1e-12, abs(c["cost"])))
    print(f"eval on both backends: largest relative cost difference {worst_eval:.3g}")
    checks.finish("backend")
