#!/usr/bin/python3
"""Data-parallel training under `mpirun -np 2` on the point mass (CI-sized, about half a minute).

Usage: /usr/bin/python3 tests/tools/test_mpi.py <path-to-dmpc> <source-dir> <built-with-mpi 0|1> [mpirun]

Exits 77 (CTest: skipped) when dmpc was built without MPI or mpirun is missing. Checks:
  - after every iteration the critic and target parameters are bit-identical on both ranks
    (each rank dumps its own float32 bytes; compared here byte for byte);
  - rank 0 alone writes the run directory, the checkpoint records world_size = 2 and holds both
    ranks' replay buffers; a stopped 2-rank run resumed on 2 ranks equals the uninterrupted one;
    resuming it on 1 process is refused with a clear error;
  - with the same total number of environments (1 x 32 against 2 x 16) and the same global
    minibatch (1 x 256 against 2 x 128) the loss curves match (tolerances below);
  - a rank that raises, or whose loss is NaN, ends the job with a non-zero exit within seconds
    and a message naming the rank (these with critic.engine = "libtorch");
  - the same for critic.engine = "native" (bit-identical ranks, a NaN loss stops the job).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dmpc_checks import Checks, learning_fields, metrics  # noqa: E402
from dmpc_checks import train_args as checks_train_args  # noqa: E402

DMPC, SOURCE, WITH_MPI = sys.argv[1], sys.argv[2], sys.argv[3]
MPIRUN = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else shutil.which("mpirun")
if WITH_MPI not in ("1", "ON", "TRUE", "true"):
    print("skipped: dmpc was built without MPI (DMPC_WITH_MPI=OFF)")
    sys.exit(77)
if not MPIRUN or not os.path.exists(MPIRUN):
    print("skipped: no mpirun")
    sys.exit(77)

ENV = dict(os.environ)
if os.getuid() == 0:  # Open MPI refuses root unless told
    ENV.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
# Containers often forbid the cross-memory attach Open MPI's shared-memory transport tries first;
# waiting ranks yield the CPU (CI and this machine have two cores, shared with other tests).
ENV.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
ENV.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
MPI_ARGS = [MPIRUN, "-np", "2", "--oversubscribe", "--bind-to", "none"]

CONFIG = os.path.join(SOURCE, "configs", "paper.toml")  # the paper's settings: what these checks were sized for
COMMON = ["env.system=point_mass", "env.threads=1", "critic.n_step=10", "env.process_noise=0.005",
          "task.walls=[]", "actor.cost=terminal", "train.minibatches=200", "train.eval_every=4",
          "critic.engine=libtorch"]  # what checks 1-4 were sized for (auto would take native here); 5 sets native
checks = Checks(DMPC, timeout=180)
check = checks.check


def dmpc(ranks, *args, timeout=180):
    cmd = (MPI_ARGS + [DMPC] if ranks > 1 else [DMPC]) + list(args)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)
    r.seconds = time.monotonic() - t0
    return r


def train_args(out, settings, *extra):
    return checks_train_args(CONFIG, out, COMMON + settings, *extra)


TWO_RANKS = ["env.batch=16", "train.minibatch_size=128"]
ONE_RANK = ["env.batch=32", "train.minibatch_size=256"]

with tempfile.TemporaryDirectory() as tmp:
    # 1. The full DMPC loop (the critic drives the actor after 2 warm-up iterations) on 2 ranks.
    loop = ["train.iterations=8", "train.warmup_iterations=2", "train.checkpoint_every=4"]
    full, dump = os.path.join(tmp, "full"), os.path.join(tmp, "dump")
    r = dmpc(2, *train_args(full, TWO_RANKS + loop, "--dump-parameters", dump))
    check("2-rank training runs to the end", r.returncode == 0 and os.path.exists(os.path.join(full, "FINISHED")),
          r.stdout[-1500:] + r.stderr[-1500:])
    a, b = (os.path.join(dump, f"rank-{k}.bin") for k in (0, 1))
    same = os.path.exists(a) and os.path.exists(b) and open(a, "rb").read() == open(b, "rb").read()
    check("critic and target parameters are bit-identical on both ranks after 8 x 200 updates", same)
    records = metrics(full) if os.path.exists(os.path.join(full, "metrics.jsonl")) else []
    check("rank 0 wrote one record per iteration", [m["iteration"] for m in records] == list(range(9)),
          str([m.get("iteration") for m in records]))
    check("the metrics count both ranks' episodes", bool(records) and records[-1]["episodes"] == 8 * 32,
          str(records[-1:]))
    ck = os.path.join(full, "checkpoints", "iter-000008")
    state = open(os.path.join(ck, "state.toml")).read() if os.path.exists(ck) else ""
    check("the checkpoint records world_size = 2 and holds both replay buffers",
          "world_size = 2" in state and os.path.exists(os.path.join(ck, "replay.pt"))
          and os.path.exists(os.path.join(ck, "replay-rank-1.pt")), state)

    # 2. Stop and resume on 2 ranks = uninterrupted; resuming on 1 process is refused.
    part = os.path.join(tmp, "part")
    r = dmpc(2, *train_args(part, TWO_RANKS + loop, "--stop-after", "4"))
    check("a 2-rank run stops resumably", r.returncode == 0 and not os.path.exists(os.path.join(part, "FINISHED")),
          r.stdout[-800:] + r.stderr[-800:])
    r = dmpc(1, "train", "--out", part, "--resume")
    err = r.stderr.strip().splitlines()
    check("resuming a 2-process checkpoint on 1 process is refused",
          r.returncode != 0 and len(err) == 1 and "written by a run on 2 process(es), this one has 1" in err[0],
          r.stderr)
    r = dmpc(2, "train", "--out", part, "--resume")
    check("the 2-rank run resumes to the end", r.returncode == 0 and os.path.exists(os.path.join(part, "FINISHED")),
          r.stdout[-800:] + r.stderr[-800:])
    check("resumed = uninterrupted on 2 ranks (every learning figure)",
          os.path.exists(os.path.join(part, "metrics.jsonl")) and learning_fields(metrics(part)) == learning_fields(records))

    # 3. Loss curves, 1 x 32 environments against 2 x 16. Warm-up iterations throughout: the actor
    #    is the quadratic MPC, so both runs collect exactly the same episodes (rank r runs env ids
    #    16r … 16r + 15, the single process ids 0 … 31) and only the draw of the minibatches differs
    #    (the same global size, 256). "Matches" then means the same regression converging alike:
    #      - the first iteration's loss within 10 % (measured 0.1-4.5 % over seeds 1-5);
    #      - the mean loss of the last 4 iterations within 35 % (measured 0.6-19 % over seeds 1-5:
    #        the spread that different minibatch draws alone produce at this size);
    #      - both fall at least 10-fold from the first iteration (measured 18- to 40-fold).
    #    With the critic driving the actor the data differ from the second iteration on and the
    #    curves differ like runs with different seeds; that is not a test of the transport.
    same_data = ["train.iterations=8", "train.warmup_iterations=8", "train.checkpoint_every=100"]
    one, two = os.path.join(tmp, "one"), os.path.join(tmp, "two")
    r1 = dmpc(1, *train_args(one, ONE_RANK + same_data))
    r2 = dmpc(2, *train_args(two, TWO_RANKS + same_data))
    ok = r1.returncode == 0 and r2.returncode == 0
    check("1-rank and 2-rank runs of the same data finish", ok, r1.stderr[-500:] + r2.stderr[-500:])
    if ok:
        m1, m2 = metrics(one)[1:], metrics(two)[1:]
        check("both runs collected the same episodes (env steps and training cost per iteration)",
              [m["env_steps"] for m in m1] == [m["env_steps"] for m in m2]
              and all(abs(x["train_mean_cost"] - y["train_mean_cost"]) <= 1e-7 * abs(x["train_mean_cost"])
                      for x, y in zip(m1, m2)))
        l1, l2 = [m["critic_loss"] for m in m1], [m["critic_loss"] for m in m2]
        print("     loss 1 rank: " + " ".join(f"{v:.4g}" for v in l1))
        print("     loss 2 ranks: " + " ".join(f"{v:.4g}" for v in l2))
        first = abs(l2[0] - l1[0]) / l1[0]
        last1, last2 = sum(l1[-4:]) / 4, sum(l2[-4:]) / 4
        last = abs(last2 - last1) / last1
        print(f"     first iteration differs by {100 * first:.1f} %, mean of the last 4 by {100 * last:.1f} %")
        check("the first iteration's loss matches within 10 %", first <= 0.10, f"{first:.3f}")
        check("the mean loss of the last 4 iterations matches within 35 %", last <= 0.35, f"{last:.3f}")
        check("both loss curves fall at least 10-fold", l1[-1] < l1[0] / 10 and l2[-1] < l2[0] / 10)

    # 4. A failing rank stops the whole job, quickly, with its message.
    quick = ["train.iterations=20", "train.checkpoint_every=100"]
    for name, flag, fragment in (("raises", "1:2", "injected failure"),
                                 ("has a NaN loss", "1:2:nan", "loss is NaN")):
        r = dmpc(2, *train_args(os.path.join(tmp, "fail-" + flag.replace(":", "-")), TWO_RANKS + quick,
                                "--inject-failure", flag), timeout=120)
        check(f"a rank that {name} ends the job with a non-zero exit within 20 s "
              f"(took {r.seconds:.1f} s)", r.returncode != 0 and r.seconds < 20, f"exit {r.returncode}")
        check(f"... and rank 1 says why ({name})", "rank 1 of 2" in r.stderr and fragment in r.stderr,
              r.stderr[-1500:])

    # 5. The native critic engine (critic.engine = "native") shares the all-reduce: its ranks stay
    #    bit-identical too, and a rank with a NaN loss stops the job the same way.
    native = os.path.join(tmp, "native")
    ndump = os.path.join(tmp, "native-dump")
    r = dmpc(2, *train_args(native, TWO_RANKS + ["train.iterations=4", "train.warmup_iterations=1",
                                                 "train.checkpoint_every=100", "critic.engine=native"],
                            "--dump-parameters", ndump))
    a, b = (os.path.join(ndump, f"rank-{k}.bin") for k in (0, 1))
    check("native engine: 2-rank training runs to the end", r.returncode == 0, r.stdout[-800:] + r.stderr[-800:])
    check("native engine: parameters bit-identical on both ranks",
          os.path.exists(a) and os.path.exists(b) and open(a, "rb").read() == open(b, "rb").read())
    r = dmpc(2, *train_args(os.path.join(tmp, "native-nan"), TWO_RANKS + quick + ["critic.engine=native"],
                            "--inject-failure", "1:2:nan"), timeout=120)
    check(f"native engine: a rank with a NaN loss ends the job within 20 s (took {r.seconds:.1f} s)",
          r.returncode != 0 and r.seconds < 20 and "rank 1 of 2" in r.stderr and "loss is NaN" in r.stderr,
          r.stderr[-1500:])

checks.finish("MPI")
