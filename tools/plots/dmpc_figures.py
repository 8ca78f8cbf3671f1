#!/usr/bin/python3
"""The paper's figures from dmpc run directories (Debian's matplotlib; PNG files).

  fig2a  top-down trajectories of the ball centre from the evaluation starts, with the arena,
         the walls (and the collision zone around them) and the goal   (the paper's Figure 2a)
  fig2b  evaluation success rate and mean cost per learning iteration, per group of runs (one
         group per configuration, one run per seed): mean and min–max spread     (Figure 2b)
  fig3   heat maps of the DMPC running cost (Eq. 14) over (px, py) at several times along two
         evaluation trajectories (one from the left, one from the right), the rest of the state
         taken from the trajectory; drawn from `dmpc costmap`                    (Figure 3)

Usage:
  dmpc_figures.py fig2a --run RUN [--eval EVAL.json] --out fig2a.png [--dmpc build/dmpc]
  dmpc_figures.py fig2b --group NAME=RUN[,RUN...] [--group ...] --out fig2b.png [--title T]
  dmpc_figures.py fig3  --run RUN --out fig3.png [--times 0.5,1,1.5,2] [--dmpc build/dmpc]
  dmpc_figures.py table --group NAME=RUN[,RUN...] [--group ...] [--out table.md]
  dmpc_figures.py phases --group NAME=RUN[,RUN...] [--group ...]

table  one Markdown row per group: the evaluations' success (all of them after iteration 0, the
       last ten, the best), collisions and falls, the last ten evaluations' cost, the training
       episodes' success over the last 50 iterations and the wall time, as mean ± standard
       deviation over the group's runs (the seeds). The README's study tables come from it.
phases the training episodes' success / collision / fall rates run by run, at iteration 1,
       over iterations 1-10 and over the last 50 (the README's "why" table).

fig2a and fig3 run the checkpoint's actor with `dmpc eval` (no noise, the configuration's
evaluation starts and goal) unless --eval gives its JSON.
"""
import argparse
import gzip
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import tomllib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, Polygon, Rectangle  # noqa: E402

OUTCOME_COLOURS = {"success": "tab:green", "collision": "tab:red", "fall": "tab:orange", "timeout": "tab:gray"}


def fail(message):
    print(f"dmpc_figures: error: {message}", file=sys.stderr)
    sys.exit(2)


def run_config(run):
    path = os.path.join(run, "config.toml")
    if not os.path.exists(path):
        fail(f"{run}: not a run directory (no config.toml)")
    with open(path, "rb") as f:
        return tomllib.load(f)


def run_metrics(run):
    """metrics.jsonl of a run, or metrics.jsonl.gz of an archived one (tools/archive_runs.py)."""
    path = os.path.join(run, "metrics.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rt") as f:
            return [json.loads(line) for line in f if line.strip()]
    fail(f"{run}: no metrics.jsonl (nor metrics.jsonl.gz)")


def evaluate(dmpc, run, starts=None):
    """`dmpc eval` of the run's latest checkpoint; returns its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "eval.json")
        args = [dmpc, "eval", "--checkpoint", run, "--out", out]
        if starts:
            csv = os.path.join(tmp, "starts.csv")
            with open(csv, "w") as f:
                f.writelines(f"{x},{y}\n" for x, y in starts)
            args += ["--starts", csv]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"dmpc eval failed: {r.stderr.strip()}")
        with open(out) as f:
            return json.load(f)


def outcome(episode):
    if episode["success"]:
        return "success"
    reason = episode["reason"]
    if reason == "fall":
        return "fall"
    if reason == "timeout":
        return "timeout"
    return "collision"


def capsule_outline(start, end, radius, arc_points=24):
    """The points within `radius` of the segment start-end, as a polygon: the set envs/task/task.hpp
    tests (hits_wall: distance to the segment <= radius), so a wall and its collision zone have
    round ends. Two sides offset along the normal, joined by half circles round the end points."""
    (x0, y0), (x1, y1) = start, end
    heading = math.atan2(y1 - y0, x1 - x0)
    outline = []
    for (cx, cy), first in (((x1, y1), heading - math.pi / 2), ((x0, y0), heading + math.pi / 2)):
        for i in range(arc_points + 1):  # the half circle round this end, from one side to the other
            a = first + math.pi * i / arc_points
            outline.append((cx + radius * math.cos(a), cy + radius * math.sin(a)))
    return outline


def draw_arena(ax, cfg, goal):
    task = cfg["task"]
    hx, hy = task["arena_half_extent"]
    ax.add_patch(Rectangle((-hx, -hy), 2 * hx, 2 * hy, fill=False, lw=1.5, ec="black"))
    clearance = task["robot_clearance"]
    for wall in task.get("walls", []):
        t = wall["thickness"]
        for radius, style in ((t / 2, dict(fc="dimgray", ec="black")),
                              (t / 2 + clearance, dict(fill=False, ec="dimgray", ls="--", lw=0.8))):
            ax.add_patch(Polygon(capsule_outline(wall["from"], wall["to"], radius), closed=True, **style))
    ax.add_patch(Circle(goal, task["success_radius"], fill=False, ec="tab:blue", ls=":"))
    ax.plot(*goal, marker="*", ms=14, color="tab:blue", zorder=5)
    ax.set_xlim(-hx - 0.1, hx + 0.1)
    ax.set_ylim(-hy - 0.1, hy + 0.1)
    ax.set_aspect("equal")
    ax.set_xlabel("px [m]")
    ax.set_ylabel("py [m]")


def fig2a(args):
    cfg = run_config(args.run)
    data = json.load(open(args.eval)) if args.eval else evaluate(args.dmpc, args.run)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    draw_arena(ax, cfg, data["goal"])
    seen = set()
    for e in data["episodes"]:
        kind = outcome(e)
        ax.plot(e["px"], e["py"], color=OUTCOME_COLOURS[kind], lw=1.6,
                label=kind if kind not in seen else None)
        ax.plot(e["px"][0], e["py"][0], "o", color="black", ms=4)
        seen.add(kind)
    s = data["summary"]
    ax.set_title(f"{os.path.basename(os.path.normpath(args.run))}: success {100 * s['success_rate']:.0f} %, "
                 f"collisions {100 * s['collision_rate']:.0f} %, falls {100 * s['fall_rate']:.0f} %", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=args.dpi)
    print(f"wrote {args.out}")


def parse_groups(specs):
    groups = []
    for g in specs:
        if "=" not in g:
            fail(f"--group {g!r}: expected NAME=RUN[,RUN...]")
        name, runs = g.split("=", 1)
        runs = [r for r in runs.split(",") if r]
        if not runs:
            fail(f"--group {g!r}: no run directories")
        groups.append((name, runs))
    return groups


def fig2b(args):
    groups = parse_groups(args.group)
    fig, (ax_s, ax_c) = plt.subplots(1, 2, figsize=(11, 4))
    for name, runs in groups:
        series = []
        for run in runs:
            evals = {m["iteration"]: m for m in run_metrics(run) if "eval_success_rate" in m}
            series.append(evals)
        iterations = sorted(set.intersection(*(set(s) for s in series)))
        if not iterations:
            fail(f"group {name}: the runs share no evaluated iteration")
        for ax, key, scale in ((ax_s, "eval_success_rate", 100), (ax_c, "eval_mean_cost", 1)):
            values = [[scale * s[i][key] for s in series] for i in iterations]
            mean = [sum(v) / len(v) for v in values]
            line, = ax.plot(iterations, mean, label=f"{name} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
            ax.fill_between(iterations, [min(v) for v in values], [max(v) for v in values],
                            color=line.get_color(), alpha=0.2)
    ax_s.set_ylabel("evaluation success [%]")
    ax_s.set_ylim(-5, 105)
    ax_c.set_ylabel("evaluation mean cost")
    for ax in (ax_s, ax_c):
        ax.set_xlabel("learning iteration")
        ax.grid(alpha=0.3)
    ax_c.legend(fontsize=8)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=args.dpi)
    print(f"wrote {args.out}")


def read_costmap(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [list(map(float, line.split(","))) for line in f if line.strip()]
    col = {name: i for i, name in enumerate(header)}
    return [r[col["px"]] for r in rows], [r[col["py"]] for r in rows], [r[col["running_cost"]] for r in rows]


def fig3(args):
    cfg = run_config(args.run)
    starts = cfg["task"]["eval"]["starts"]
    left, right = min(starts, key=lambda s: s[0]), max(starts, key=lambda s: s[0])
    data = evaluate(args.dmpc, args.run, [left, right])
    times = [float(t) for t in args.times.split(",")]
    dt, duration = cfg["task"]["control_period"], cfg["task"]["duration"]
    hx, hy = cfg["task"]["arena_half_extent"]
    fig, axes = plt.subplots(2, len(times), figsize=(3.2 * len(times), 6.6), squeeze=False)
    with tempfile.TemporaryDirectory() as tmp:
        for row, episode in enumerate(data["episodes"]):
            for col, t in enumerate(times):
                ax = axes[row][col]
                k = min(int(round(t / dt)), len(episode["states"]) - 1)
                state = episode["states"][k]
                csv = os.path.join(tmp, f"map-{row}-{col}.csv")
                r = subprocess.run([args.dmpc, "costmap", "--checkpoint", args.run,
                                    "--state", ",".join(repr(v) for v in state), "--tau", repr(duration - k * dt),
                                    "--px", f"{-hx},{hx}", "--py", f"{-hy},{hy}",
                                    "--resolution", str(args.resolution), "--out", csv],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    fail(f"dmpc costmap failed: {r.stderr.strip()}")
                px, py, cost = read_costmap(csv)
                n = args.resolution
                grid = [cost[i * n:(i + 1) * n] for i in range(n)]
                # A robust colour range: the running cost spans orders of magnitude.
                finite = sorted(c for c in cost if math.isfinite(c))
                lo, hi = finite[int(0.02 * (len(finite) - 1))], finite[int(0.98 * (len(finite) - 1))]
                im = ax.imshow(grid, origin="lower", extent=(-hx, hx, -hy, hy), cmap="viridis",
                               vmin=lo, vmax=hi, interpolation="nearest")
                draw_arena(ax, cfg, data["goal"])
                ax.plot(episode["px"][:k + 1], episode["py"][:k + 1], color="white", lw=1.2)
                ax.plot(episode["px"][k], episode["py"][k], "o", color="red", ms=5)
                ax.set_title(f"start ({episode['start'][0]:g}, {episode['start'][1]:g}), t = {k * dt:.2f} s",
                             fontsize=8)
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
                if col:
                    ax.set_ylabel("")
    fig.suptitle("DMPC running cost r(τ, x) (Eq. 14) over the ball position; the rest of the state from the trajectory",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=args.dpi)
    print(f"wrote {args.out}")


def run_figures(run):
    """One run's learning figures for the study table, in percent where they are rates."""
    metrics = run_metrics(run)
    evals = [m for m in metrics if "eval_success_rate" in m and m["iteration"] > 0]
    train = [m for m in metrics if "train_success_rate" in m]
    if not evals or not train:
        fail(f"{run}: no evaluation after iteration 0, or no training iteration, in metrics.jsonl")
    mean = lambda rows, key, scale=100: scale * sum(m[key] for m in rows) / len(rows)
    return {
        "iterations": metrics[-1]["iteration"],
        "success_all": mean(evals, "eval_success_rate"),
        "success_last10": mean(evals[-10:], "eval_success_rate"),
        "success_best": 100 * max(m["eval_success_rate"] for m in evals),
        "collisions_all": mean(evals, "eval_collision_rate"),
        "collisions_last10": mean(evals[-10:], "eval_collision_rate"),
        "falls_all": mean(evals, "eval_fall_rate"),
        "cost_last10": mean(evals[-10:], "eval_mean_cost", 1),
        "train_success_last50": mean(train[-50:], "train_success_rate"),
        "wall_minutes": max(m.get("wall_time", 0) for m in metrics) / 60,
    }


def table(args):
    def spread(values):  # mean ± sample standard deviation over the seeds (± 0.0 for one run)
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.1f} ± {sd:.1f}"

    lines = ["| configuration | runs | iterations | eval success: all / last 10 / best | "
             "eval collisions: all / last 10 | eval falls | eval cost, last 10 | "
             "training success, last 50 it. | wall time per run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, runs in parse_groups(args.group):
        f = [run_figures(run) for run in runs]
        col = lambda key: spread([x[key] for x in f])
        its = sorted({x["iterations"] for x in f})
        lines.append(
            f"| {name} | {len(runs)} | {f'{its[0]}–{its[-1]}' if len(its) > 1 else its[0]} | "
            f"{col('success_all')} / {col('success_last10')} / {col('success_best')} % | "
            f"{col('collisions_all')} / {col('collisions_last10')} % | {col('falls_all')} % | {col('cost_last10')} | "
            f"{col('train_success_last50')} % | "
            f"{min(x['wall_minutes'] for x in f):.0f}–{max(x['wall_minutes'] for x in f):.0f} min |")
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as out:
            out.write(text)
    print(text, end="")


def phases(args):
    """The training episodes' success / collision / fall rates, run by run: at iteration 1, over
    iterations 1-10 and over the last 50 (what the README's "why" table reads)."""
    lines = ["| runs | iteration 1 | iterations 1–10 | last 50 iterations |", "|---|---|---|---|"]
    for name, runs in parse_groups(args.group):
        cells = [[], [], []]
        for run in runs:
            train = [m for m in run_metrics(run) if "train_success_rate" in m and m["iteration"] >= 1]
            if len(train) < 50:
                fail(f"{run}: {len(train)} training iterations in metrics.jsonl; this table needs 50")
            for cell, rows in zip(cells, (train[:1], train[:10], train[-50:])):
                cell.append(" / ".join(f"{100 * sum(m[k] for m in rows) / len(rows):.0f}"
                                       for k in ("train_success_rate", "train_collision_rate", "train_fall_rate")))
        lines.append(f"| {name} | " + " | ".join(", ".join(c) + " %" for c in cells) + " |")
    print("(success / collisions / falls of the training episodes, run by run)")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="figure", required=True)
    default_dmpc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "dmpc")
    a = sub.add_parser("fig2a")
    a.add_argument("--run", required=True)
    a.add_argument("--eval")
    b = sub.add_parser("fig2b")
    b.add_argument("--group", action="append", required=True)
    b.add_argument("--title")
    c = sub.add_parser("fig3")
    c.add_argument("--run", required=True)
    c.add_argument("--times", default="0.5,1.0,1.5,2.0")
    c.add_argument("--resolution", type=int, default=61)
    for p in (a, b, c):
        p.add_argument("--out", required=True)
        p.add_argument("--dpi", type=int, default=110)
        p.add_argument("--dmpc", default=os.environ.get("DMPC", default_dmpc))
    t = sub.add_parser("table")
    t.add_argument("--group", action="append", required=True)
    t.add_argument("--out", help="also write the table here")
    ph = sub.add_parser("phases")
    ph.add_argument("--group", action="append", required=True)
    args = parser.parse_args()
    if args.figure in ("fig2a", "fig3") and not os.path.exists(args.dmpc):
        fail(f"{args.dmpc}: no dmpc executable (build it, or give --dmpc)")
    {"fig2a": fig2a, "fig2b": fig2b, "fig3": fig3, "table": table, "phases": phases}[args.figure](args)


if __name__ == "__main__":
    main()
