#!/usr/bin/python3
"""End to end: `dmpc train` and `dmpc eval` on the point mass, CI-sized (well under a minute).

Usage: /usr/bin/python3 tests/tools/test_train.py <path-to-dmpc> <source-dir>

Checks that training improves the evaluation cost over the untrained critic, that a stopped and
resumed run equals the uninterrupted one, and that bad configurations, damaged checkpoints and
bad evaluation inputs are refused with a clear one-line error and nothing lost.
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dmpc_checks import Checks, learning_fields, metrics  # noqa: E402
from dmpc_checks import train_args as checks_train_args  # noqa: E402

DMPC, SOURCE = sys.argv[1], sys.argv[2]
CONFIG = os.path.join(SOURCE, "configs", "paper.toml")  # the paper's settings: what these checks were sized for
# A small, quick problem: point masses on the open arena (no walls), the vanilla actor with the
# value function as its only guide (terminal cost, no task cost along the horizon: whatever the
# actor does well it owes to the critic), 10-step targets. The wall task is far beyond CI's budget.
SETTINGS = ["env.system=point_mass", "env.batch=32", "env.threads=2", "train.iterations=30",
            "train.eval_every=5", "train.checkpoint_every=10", "critic.n_step=10",
            "env.process_noise=0.005", "task.walls=[]", "actor.cost=terminal",
            "actor.task_running_cost=false"]
checks = Checks(DMPC)
run, check, expect_error = checks.run, checks.check, checks.expect_error


def train_args(out, *extra):
    return checks_train_args(CONFIG, out, SETTINGS, *extra)


with tempfile.TemporaryDirectory() as tmp:
    full = os.path.join(tmp, "full")
    r = run(*train_args(full))
    check("train runs to the end", r.returncode == 0, r.stdout[-2000:] + r.stderr)
    for name in ("config.toml", "metrics.jsonl", "metrics.csv", "FINISHED", "checkpoints/latest"):
        check(f"the run directory holds {name}", os.path.exists(os.path.join(full, name)))
    records = metrics(full)
    check("one metrics record per iteration, after the untrained baseline",
          [m["iteration"] for m in records] == list(range(31)), str([m["iteration"] for m in records]))
    with open(os.path.join(full, "metrics.csv")) as f:
        csv_rows = [line for line in f if line.strip()]
    check("the CSV has a header and the same records", len(csv_rows) == 32 and csv_rows[0].startswith("iteration,"))
    evals = [m for m in records if "eval_mean_cost" in m]
    baseline = evals[0]["eval_mean_cost"]
    trained = (evals[-1]["eval_mean_cost"] + evals[-2]["eval_mean_cost"]) / 2
    print(f"     eval cost: untrained {baseline:.3f}, trained (last two evaluations) {trained:.3f}")
    check("training improves the evaluation cost by at least 20 %", trained < 0.8 * baseline,
          f"untrained {baseline}, trained {trained}")

    # Stop after 12 iterations, resume: the same learning as the uninterrupted run.
    part = os.path.join(tmp, "part")
    r = run(*train_args(part, "--stop-after", "12"))
    check("a run stops resumably", r.returncode == 0 and "--resume" in r.stdout
          and not os.path.exists(os.path.join(part, "FINISHED")), r.stdout[-500:] + r.stderr)
    r = run("train", "--out", part, "--resume")
    check("the run resumes to the end", r.returncode == 0 and os.path.exists(os.path.join(part, "FINISHED")),
          r.stdout[-500:] + r.stderr)
    check("resumed = uninterrupted (every learning figure)",
          learning_fields(metrics(part)) == learning_fields(records))

    # Nothing already saved is lost.
    before = open(os.path.join(full, "metrics.jsonl")).read()
    expect_error("a second run into the same directory", train_args(full), "already holds a run")
    check("the existing run is untouched", open(os.path.join(full, "metrics.jsonl")).read() == before)
    expect_error("--set of a setting on a resumed run", ["train", "--out", full, "--resume", "--set", "critic.width=5"],
                 "only train.iterations can change")
    expect_error("shortening a run past its checkpoint", ["train", "--out", full, "--resume", "--set", "train.iterations=5"],
                 "already at iteration 30")
    check("the refused resumes leave the run untouched", open(os.path.join(full, "metrics.jsonl")).read() == before
          and os.path.exists(os.path.join(full, "FINISHED")))

    # A finished run trained further (--resume --set train.iterations=N) = the longer run.
    short = os.path.join(tmp, "short")
    r = run(*train_args(short, "--set", "train.iterations=10"))
    r = run("train", "--out", short, "--resume", "--set", "train.iterations=30")
    check("a finished run extended = the longer run",
          r.returncode == 0 and learning_fields(metrics(short)) == learning_fields(records), r.stdout[-500:] + r.stderr)
    expect_error("resuming nothing", ["train", "--out", os.path.join(tmp, "none"), "--resume"],
                 "not a run directory")

    # Bad configurations.
    bad = os.path.join(tmp, "bad.toml")
    with open(bad, "w") as f:
        f.write("[critic]\nwidht = 12\n")
    expect_error("an unknown key", ["train", "--config", bad, "--out", os.path.join(tmp, "b1")],
                 "unknown key critic.widht")
    with open(bad, "w") as f:
        f.write("[train\niterations = 3\n")
    expect_error("malformed TOML", ["train", "--config", bad, "--out", os.path.join(tmp, "b2")], "malformed TOML")
    expect_error("an out-of-range value", ["train", "--config", CONFIG, "--set", "critic.learning_rate=-1",
                                           "--out", os.path.join(tmp, "b3")], "critic.learning_rate")
    check("a refused configuration creates no run directory", not os.path.exists(os.path.join(tmp, "b1")))

    # dmpc eval.
    out_json = os.path.join(tmp, "eval.json")
    r = run("eval", "--checkpoint", full, "--out", out_json)
    try:
        result = json.load(open(out_json))
    except (OSError, json.JSONDecodeError):
        result = {}
    episodes = result.get("episodes", [])
    check("eval writes per-episode results for the 8 evaluation starts",
          r.returncode == 0 and len(episodes) == 8
          and all({"success", "reason", "cost", "time_to_goal", "px", "py"} <= set(e) for e in episodes)
          and len(episodes[0]["px"]) == len(episodes[0]["py"]) > 1, r.stdout[-800:] + r.stderr)
    starts = os.path.join(tmp, "starts.csv")
    with open(starts, "w") as f:
        f.write("0.5,-0.9\n-0.5,-1.1\n")
    r = run("eval", "--checkpoint", os.path.join(full, "checkpoints", "latest"), "--starts", starts,
            "--episodes", "2", "--noise", "0.01", "--goal", "0.1,0.7")
    check("eval takes starts, goal, episodes and noise", r.returncode == 0 and r.stdout.count(" -0.900 ") == 2,
          r.stdout + r.stderr)
    r = run("eval", "--checkpoint", full, "--set", "actor.horizon=0.5", "--set", "actor.cost=running+terminal")
    check("eval can change the actor's settings", r.returncode == 0 and "success" in r.stdout, r.stdout + r.stderr)

    # The best evaluation: FINISHED names it (the highest success, then the lowest cost, among
    # iterations >= 1), and checkpoints/best, when that iteration was checkpointed, evaluates to it.
    finished = json.load(open(os.path.join(full, "FINISHED")))
    best = finished.get("best_eval", {})
    ranked = sorted((m for m in evals if m["iteration"] >= 1),
                    key=lambda m: (-m["eval_success_rate"], m["eval_mean_cost"], m["iteration"]))
    check("FINISHED names the best evaluation of the metrics",
          bool(ranked) and best.get("iteration") == ranked[0]["iteration"]
          and best.get("eval_mean_cost") == ranked[0]["eval_mean_cost"], f"{best} vs {ranked[:1]}")
    best_dir = os.path.join(full, "checkpoints", "best")
    checkpointed = best.get("iteration", 1) % 10 == 0 or best.get("iteration") == 30
    check("checkpoints/best exists exactly when the best iteration was checkpointed",
          os.path.isdir(best_dir) == checkpointed, f"best {best}")
    if checkpointed:
        best_json = os.path.join(tmp, "best.json")
        r = run("eval", "--checkpoint", best_dir, "--out", best_json)
        summary = json.load(open(best_json)).get("summary", {}) if r.returncode == 0 else {}
        check("checkpoints/best evaluates to the best evaluation's cost",
              abs(summary.get("mean_cost", float("nan")) - best["eval_mean_cost"]) <= 1e-8 * (1 + best["eval_mean_cost"]),
              f"{summary} vs {best}; " + r.stderr)

    # The whole state after every step, and dmpc costmap from it (the paper's Figure 3).
    first = episodes[0] if episodes else {"states": [], "px": []}
    check("eval's JSON holds the whole state of every step",
          len(first.get("states", [])) == len(first["px"]) > 1 and all(len(x) == 4 for x in first["states"])
          and all(abs(x[0] - px) < 1e-9 for x, px in zip(first["states"], first["px"])))
    if first.get("states"):
        s0 = first["states"][0]
        grid = os.path.join(tmp, "costmap.csv")
        r = run("costmap", "--checkpoint", full, "--state", ",".join(repr(v) for v in s0), "--tau", "3",
                "--px", f"{s0[0] - 0.1},{s0[0] + 0.1}", "--py", f"{s0[1] - 0.1},{s0[1] + 0.1}",
                "--resolution", "3", "--out", grid)
        rows = open(grid).read().split() if os.path.exists(grid) else []
        centre = [float(v) for v in rows[5].split(",")] if len(rows) == 10 else [0, 0, float("nan"), 0]
        check("costmap writes V and the running cost on the grid; at the start V is eval's V(s0)",
              r.returncode == 0 and rows[0] == "px,py,value,running_cost"
              and abs(centre[2] - first["predicted_cost"]) < 1e-6 * (1 + abs(first["predicted_cost"])),
              r.stdout + r.stderr + str(rows[:6]) + f" predicted {first['predicted_cost']}")
    expect_error("a costmap state of the wrong size", ["costmap", "--checkpoint", full, "--state", "0,0,0",
                                                       "--out", os.path.join(tmp, "c.csv")], "expected 4 numbers")
    expect_error("a costmap of a missing checkpoint", ["costmap", "--checkpoint", os.path.join(tmp, "nothing"),
                                                       "--state", "0,0,0,0", "--out", os.path.join(tmp, "c.csv")],
                 "no such checkpoint")
    expect_error("changing the checkpoint's critic", ["eval", "--checkpoint", full, "--set", "critic.width=4"],
                 "cannot change")
    with open(starts, "w") as f:
        f.write("0.5,-0.9\n2.5,0.0\n")
    expect_error("a start outside the arena", ["eval", "--checkpoint", full, "--starts", starts],
                 "starts.csv:2: start (2.5, 0) is outside the arena")
    with open(starts, "w") as f:
        f.write("0.5;-0.9\n")
    expect_error("a malformed starts file", ["eval", "--checkpoint", full, "--starts", starts], "starts.csv:1")
    expect_error("a missing checkpoint", ["eval", "--checkpoint", os.path.join(tmp, "nothing")], "no such checkpoint")

    # A damaged checkpoint is refused by name, by eval and by resume.
    damaged = os.path.join(tmp, "damaged")
    shutil.copytree(full, damaged)
    latest = open(os.path.join(damaged, "checkpoints", "latest")).read().strip()
    target = os.path.join(damaged, "checkpoints", latest, "target.pt")
    data = bytearray(open(target, "rb").read())
    data[len(data) // 2] ^= 0x5A
    open(target, "wb").write(data)
    expect_error("a corrupted checkpoint (eval)", ["eval", "--checkpoint", damaged], "target.pt: corrupted")
    expect_error("a corrupted checkpoint (resume)", ["train", "--out", damaged, "--resume"], "target.pt: corrupted")
    os.remove(os.path.join(damaged, "checkpoints", latest, "optimizer.pt"))
    expect_error("a checkpoint with a missing file", ["eval", "--checkpoint", damaged], "optimizer.pt: missing")

    # The cosine learning-rate schedule: the first iteration's updates run at the full rate (the
    # constant run's loss), later ones slower (another loss), and a stopped run resumes exactly.
    cos = ["--set", "critic.learning_rate_schedule=cosine", "--set", "train.iterations=6",
           "--set", "train.checkpoint_every=3"]
    cos_full, cos_part = os.path.join(tmp, "cos-full"), os.path.join(tmp, "cos-part")
    r = run(*train_args(cos_full, *cos))
    cos_records = metrics(cos_full) if r.returncode == 0 else []
    check("the cosine schedule: full rate first, lower later",
          len(cos_records) == 7 and cos_records[1]["critic_loss"] == records[1]["critic_loss"]
          and cos_records[3]["critic_loss"] != records[3]["critic_loss"], r.stderr + str(cos_records[1:4]))
    r = run(*train_args(cos_part, *cos, "--stop-after", "2"))
    r = run("train", "--out", cos_part, "--resume")
    check("with the cosine schedule, resumed = uninterrupted",
          r.returncode == 0 and learning_fields(metrics(cos_part)) == learning_fields(cos_records), r.stderr)

    # The critic's HJB-residual term with collocation points: active (the first iteration's data
    # are the TD-only run's, its loss is not), and a stopped run resumes to the same numbers.
    hjb = ["--set", "critic.hjb_weight=0.03", "--set", "critic.hjb_collocation=1",
           "--set", "train.iterations=6", "--set", "train.checkpoint_every=3"]
    hjb_full, hjb_part = os.path.join(tmp, "hjb-full"), os.path.join(tmp, "hjb-part")
    r = run(*train_args(hjb_full, *hjb))
    check("train with the HJB term runs to the end", r.returncode == 0, r.stdout[-2000:] + r.stderr)
    hjb_records = metrics(hjb_full) if r.returncode == 0 else []
    check("the HJB term changes the critic's loss",
          len(hjb_records) == 7 and hjb_records[1]["train_mean_cost"] == records[1]["train_mean_cost"]
          and hjb_records[1]["critic_loss"] != records[1]["critic_loss"],
          str(hjb_records[1:2]) + " vs " + str(records[1:2]))
    r = run(*train_args(hjb_part, *hjb, "--stop-after", "3"))
    r = run("train", "--out", hjb_part, "--resume")
    check("with the HJB term, resumed = uninterrupted",
          r.returncode == 0 and learning_fields(metrics(hjb_part)) == learning_fields(hjb_records), r.stderr)
    r = run(*train_args(os.path.join(tmp, "hjb-bc"), *hjb, "--set", "critic.hjb_boundary_weight=1",
                        "--set", "train.iterations=1"))
    bc_records = metrics(os.path.join(tmp, "hjb-bc")) if r.returncode == 0 else []
    check("the HJB boundary conditions change the critic's loss",
          len(bc_records) == 2 and len(hjb_records) > 1 and bc_records[1]["critic_loss"] != hjb_records[1]["critic_loss"],
          r.stderr + str(bc_records[1:2]))
    r = run(*train_args(os.path.join(tmp, "hjb-greedy"), *hjb, "--set", "critic.hjb_form=greedy_policy",
                        "--set", "train.iterations=1"))
    greedy_records = metrics(os.path.join(tmp, "hjb-greedy")) if r.returncode == 0 else []
    check("the greedy-policy HJB form changes the critic's loss",
          len(greedy_records) == 2 and len(hjb_records) > 1
          and greedy_records[1]["critic_loss"] != hjb_records[1]["critic_loss"], r.stderr + str(greedy_records[1:2]))
    expect_error("an unknown HJB form", train_args(os.path.join(tmp, "hjb-form"), "--set", "critic.hjb_form=other"),
                 "critic.hjb_form")
    expect_error("a negative HJB weight", train_args(os.path.join(tmp, "hjb-bad"), "--set", "critic.hjb_weight=-1"),
                 "critic.hjb_weight")

    # The wall feature in the critic's input: a walled run with it trains, stops and resumes to
    # the same numbers (the segments are part of the checkpoint), and its critic differs from the
    # same run's without it; more walls than the critic takes are refused with the key named.
    walled = ["--set", "task.walls=[{from=[-0.6,0.0],to=[0.6,0.0],thickness=0.1}]", "--set", "train.iterations=3",
              "--set", "train.checkpoint_every=1", "--set", "train.minibatches=50"]
    wf_full, wf_part, wf_off = (os.path.join(tmp, n) for n in ("wf-full", "wf-part", "wf-off"))
    r = run(*train_args(wf_full, *walled, "--set", "critic.wall_features=true"))
    check("train with the wall feature runs to the end", r.returncode == 0, r.stdout[-2000:] + r.stderr)
    wf_records = metrics(wf_full) if r.returncode == 0 else []
    run(*train_args(wf_part, *walled, "--set", "critic.wall_features=true", "--stop-after", "1"))
    r = run("train", "--out", wf_part, "--resume")
    check("with the wall feature, resumed = uninterrupted",
          r.returncode == 0 and len(wf_records) == 4 and learning_fields(metrics(wf_part)) == learning_fields(wf_records),
          r.stderr)
    r = run(*train_args(wf_off, *walled))
    off_records = metrics(wf_off) if r.returncode == 0 else []
    check("the wall feature changes the critic's loss",
          len(off_records) == 4 and len(wf_records) == 4 and off_records[1]["critic_loss"] != wf_records[1]["critic_loss"],
          str(off_records[1:2]) + " vs " + str(wf_records[1:2]))
    five_walls = "[" + ",".join(f"{{from=[0.0,{y}],to=[1.0,{y}],thickness=0.1}}" for y in (-1.0, -0.5, 0.0, 0.5, 1.0)) + "]"
    expect_error("more walls than the critic's features", train_args(os.path.join(tmp, "wf-bad"), "--set",
                 "critic.wall_features=true", "--set", "task.walls=" + five_walls), "critic.wall_features")

    # The path-length features (the shortest way round the walls as an input): the same for them —
    # trains, resumes exactly (their parameters are part of the checkpoint), changes the critic —
    # and they are refused without the wall features they go round, or with too many look-aheads.
    path = ["--set", "critic.wall_features=true", "--set", "critic.path_lookahead=[0.0,0.5]"]
    pf_full, pf_part = (os.path.join(tmp, n) for n in ("pf-full", "pf-part"))
    r = run(*train_args(pf_full, *walled, *path))
    check("train with the path features runs to the end", r.returncode == 0, r.stdout[-2000:] + r.stderr)
    pf_records = metrics(pf_full) if r.returncode == 0 else []
    run(*train_args(pf_part, *walled, *path, "--stop-after", "1"))
    r = run("train", "--out", pf_part, "--resume")
    check("with the path features, resumed = uninterrupted",
          r.returncode == 0 and len(pf_records) == 4 and learning_fields(metrics(pf_part)) == learning_fields(pf_records),
          r.stderr)
    check("the path features change the critic's loss",
          len(pf_records) == 4 and len(wf_records) == 4 and pf_records[1]["critic_loss"] != wf_records[1]["critic_loss"],
          str(pf_records[1:2]) + " vs " + str(wf_records[1:2]))
    expect_error("path features without the wall features",
                 train_args(os.path.join(tmp, "pf-bad"), *walled, "--set", "critic.path_lookahead=[0.0]"),
                 "critic.path_lookahead")
    expect_error("more look-ahead times than the critic takes",
                 train_args(os.path.join(tmp, "pf-bad2"), *walled, "--set", "critic.wall_features=true",
                            "--set", "critic.path_lookahead=[0.0,0.5,1.0]"), "critic.path_lookahead")

    # Following the Ballbot's lean (critic.path_body_gain): a short Ballbot run with it trains,
    # resumes exactly, and its checkpoint (a fourth-format value network) evaluates; the point mass
    # has no body to lean and is refused.
    lean = [*walled, *path, "--set", "env.system=ballbot", "--set", "env.batch=4", "--set", "task.duration=0.4",
            "--set", "task.start.free_time_left=[0.2,0.4]",
            "--set", "train.minibatches=10", "--set", "critic.path_body_gain=0.5"]
    lb_full, lb_part = (os.path.join(tmp, n) for n in ("lb-full", "lb-part"))
    r = run(*train_args(lb_full, *lean))
    check("the Ballbot with path features following the lean trains", r.returncode == 0, r.stdout[-2000:] + r.stderr)
    lb_records = metrics(lb_full) if r.returncode == 0 else []
    run(*train_args(lb_part, *lean, "--stop-after", "1"))
    r = run("train", "--out", lb_part, "--resume")
    check("following the lean, resumed = uninterrupted",
          r.returncode == 0 and len(lb_records) == 4 and learning_fields(metrics(lb_part)) == learning_fields(lb_records),
          r.stderr)
    r = run("eval", "--checkpoint", lb_full, "--out", os.path.join(tmp, "lb-eval.json"))
    check("its checkpoint evaluates", r.returncode == 0 and os.path.exists(os.path.join(tmp, "lb-eval.json")),
          r.stdout[-1000:] + r.stderr)
    expect_error("following the lean on the point mass",
                 train_args(os.path.join(tmp, "pf-bad3"), *walled, *path, "--set", "critic.path_body_gain=0.5"),
                 "critic.path_body_gain")

checks.finish("training")
