#!/usr/bin/python3
"""The NCCL gradient all-reduce on one GPU: a communicator of one process.

Usage: python3 tests/tools/test_nccl.py <path-to-dmpc> <source-dir> [mpirun]

Multi-GPU data parallelism needs several GPUs; what one GPU can check is the NCCL code path itself:
the communicator's set-up (rank 0's ncclUniqueId broadcast over MPI, ncclCommInitRank), the
gradients packed into one float buffer on the GPU, ncclAllReduce on its stream, and unpacked again.
Over one process the sum is the identity, so a run with `critic.allreduce = "nccl"` must train the
very same critic as one without any exchange: identical learning figures (the critic is float32,
so packing its gradients into float loses nothing), the loss reported through the float buffer
equal to float rounding. Run plainly and, when mpirun is given, under `mpirun -np 1`.
Exits 77 (skipped) where the build has no NCCL or LibTorch sees no GPU.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dmpc_checks import Checks, learning_fields, metrics, train_args  # noqa: E402

DMPC, SOURCE = sys.argv[1], sys.argv[2]
MPIRUN = sys.argv[3] if len(sys.argv) > 3 else ""
CONFIG = os.path.join(SOURCE, "configs", "paper.toml")  # the paper's settings: what these checks were sized for
SETTINGS = ["env.system=point_mass", "env.batch=16", "env.threads=2", "train.iterations=4",
            "train.minibatches=50", "train.eval_every=2", "task.walls=[]", "actor.cost=terminal",
            "critic.device=cuda"]
checks = Checks(DMPC)
run, check = checks.run, checks.check

info = run("info")
if "NCCL: compiled" not in info.stdout:
    print("skipped: this build has no NCCL")
    sys.exit(77)
if "CUDA devices:     0 (as LibTorch" in info.stdout:
    print("skipped: LibTorch sees no GPU")
    sys.exit(77)


def close(a, b, rel):
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def compare(name, reference, other):
    check(f"{name}: every iteration written", len(reference) == len(other), f"{len(reference)} vs {len(other)}")
    for r, o in zip(learning_fields(reference), learning_fields(other)):
        loss_r, loss_o = r.pop("critic_loss", None), o.pop("critic_loss", None)
        check(f"{name}, iteration {r['iteration']}: the same learning figures", r == o, f"{r} vs {o}")
        if loss_r is not None:
            check(f"{name}, iteration {r['iteration']}: the same loss to float rounding ({loss_r} vs {loss_o})",
                  loss_o is not None and close(loss_r, loss_o, 1e-6))


with tempfile.TemporaryDirectory() as tmp:
    runs = {}
    for name, exchange in (("plain", "mpi"), ("nccl", "nccl")):
        out = os.path.join(tmp, name)
        r = run(*train_args(CONFIG, out, SETTINGS + [f"critic.allreduce={exchange}"], "--backend", "cpu"))
        check(f"train with critic.allreduce={exchange} runs to the end", r.returncode == 0, r.stdout[-1500:] + r.stderr)
        if r.returncode == 0:
            runs[name] = metrics(out)
        if name == "nccl":
            check("the summary names the NCCL exchange", "NCCL, 1 process" in r.stdout, r.stdout[-800:])
    if MPIRUN and os.path.exists(MPIRUN):
        out = os.path.join(tmp, "mpirun")
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        cmd = [MPIRUN, "-np", "1", DMPC] + train_args(CONFIG, out, SETTINGS + ["critic.allreduce=nccl"], "--backend", "cpu")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        check("mpirun -np 1 with NCCL runs to the end", r.returncode == 0, r.stdout[-1500:] + r.stderr)
        if r.returncode == 0:
            runs["mpirun"] = metrics(out)
    if "plain" in runs:
        for name in ("nccl", "mpirun"):
            if name in runs:
                compare(name, runs["plain"], runs[name])

checks.finish("NCCL")
