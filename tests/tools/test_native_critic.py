#!/usr/bin/python3
"""`critic.engine = "native"` against "libtorch" in `dmpc train`, on the default configuration
(the Ballbot behind the wall: wall and path features following the lean, the HJB term with its
collocation draws), CI-sized.

Usage: /usr/bin/python3 tests/tools/test_native_critic.py <path-to-dmpc> <source-dir>

The first iteration's episodes come from the same initial critic, so both engines fit the critic
to the same data: their losses must agree to float32 rounding. A stopped and resumed native run
must equal the uninterrupted one, "auto" (the default) with the critic on the CPU must be the native
run, and a bad engine name is refused.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dmpc_checks import Checks, learning_fields, metrics, train_args  # noqa: E402

DMPC, SOURCE = sys.argv[1], sys.argv[2]
CONFIG = os.path.join(SOURCE, "configs", "default.toml")
SETTINGS = ["env.batch=4", "env.threads=2", "train.iterations=3", "train.minibatches=20",
            "train.minibatch_size=64", "train.eval_every=3", "train.checkpoint_every=1"]
checks = Checks(DMPC)
run, check, expect_error = checks.run, checks.check, checks.expect_error


def relative(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


with tempfile.TemporaryDirectory() as tmp:
    runs = {}
    for engine in ("libtorch", "native"):
        out = os.path.join(tmp, engine)
        r = run(*train_args(CONFIG, out, SETTINGS + [f"critic.engine={engine}"]))
        check(f"{engine}: train runs to the end", r.returncode == 0, r.stdout[-2000:] + r.stderr)
        runs[engine] = metrics(out) if r.returncode == 0 else []
    with open(os.path.join(tmp, "native", "config.toml")) as f:
        check("the run's config.toml names the engine", "engine = 'native'" in f.read())
    lib, nat = runs["libtorch"], runs["native"]
    if len(lib) == 4 and len(nat) == 4:
        first_lib, first_nat = lib[1], nat[1]
        check("iteration 1: the same episodes (both act with the initial critic)",
              all(first_lib[k] == first_nat[k] for k in ("train_mean_cost", "train_success_rate", "env_steps")))
        for key in ("critic_loss", "critic_td_loss"):
            d = relative(first_lib[key], first_nat[key])
            print(f"     iteration 1 {key}: libtorch {first_lib[key]:.7g}, native {first_nat[key]:.7g} "
                  f"(relative difference {d:.1e})")
            check(f"iteration 1: {key} agrees to 1e-3", d < 1e-3)
        check("every loss is finite and positive", all(0 < m["critic_loss"] < 1e9 for m in nat[1:]))

    # A stopped and resumed native run is the uninterrupted one.
    part = os.path.join(tmp, "part")
    r = run(*train_args(CONFIG, part, SETTINGS + ["critic.engine=native"], "--stop-after", "1"))
    check("a native run stops resumably", r.returncode == 0, r.stdout[-500:] + r.stderr)
    r = run("train", "--out", part, "--resume")
    check("it resumes to the end", r.returncode == 0 and os.path.exists(os.path.join(part, "FINISHED")),
          r.stdout[-500:] + r.stderr)
    check("resumed = uninterrupted (every learning figure)", learning_fields(metrics(part)) == learning_fields(nat))

    # A run whose config.toml predates critic.engine (trained by autograd) resumes with libtorch, so
    # that it stays the uninterrupted run.
    old = os.path.join(tmp, "old")
    r = run(*train_args(CONFIG, old, SETTINGS + ["critic.engine=libtorch"], "--stop-after", "1"))
    check("a libtorch run stops resumably", r.returncode == 0, r.stdout[-500:] + r.stderr)
    with open(os.path.join(old, "config.toml")) as f:
        lines = f.readlines()
    with open(os.path.join(old, "config.toml"), "w") as f:
        f.writelines(line for line in lines if not line.startswith("engine ="))
    r = run("train", "--out", old, "--resume")
    check("a run without critic.engine in its config.toml resumes with the libtorch engine",
          r.returncode == 0 and "(libtorch engine)" in r.stdout, r.stdout[-500:] + r.stderr)
    check("... and equals the uninterrupted libtorch run",
          r.returncode == 0 and learning_fields(metrics(old)) == learning_fields(lib))

    # critic.engine = "auto" (the default) takes the native engine for a critic on the CPU.
    auto = os.path.join(tmp, "auto")
    r = run(*train_args(CONFIG, auto, SETTINGS + ["critic.engine=auto", "critic.device=cpu"]))
    check("auto with the critic on the CPU: the summary names the native engine",
          r.returncode == 0 and "(native engine)" in r.stdout, r.stdout[-800:] + r.stderr)
    check("... and the run is the native run (every learning figure)",
          r.returncode == 0 and learning_fields(metrics(auto)) == learning_fields(nat))

    expect_error("an unknown engine", train_args(CONFIG, os.path.join(tmp, "bad"), ["critic.engine=fast"]),
                 "critic.engine")
    check("a refused run leaves nothing behind", not os.path.exists(os.path.join(tmp, "bad", "metrics.jsonl")))

checks.finish("native critic engine")
