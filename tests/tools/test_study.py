#!/usr/bin/python3
"""tools/study.sh end to end at a toy size: the runs, the figures and the summary table.

Usage: /usr/bin/python3 tests/tools/test_study.py <path-to-dmpc> <source-dir>

Two configurations × two seeds of a few iterations on the point mass (the figures only need run
directories of the real format); checks that every figure is a PNG with something drawn in it,
that the summary has one row per configuration with the runs' last evaluation, that the archive
(--archive, tools/archive_runs.py) is small and gives the same table and evaluation as the runs and
is not resumed, that a second call keeps the finished runs, that a study with a new --out trains
none of the runs finished in the archive and draws the same summary from it, that --status tells
finished, stopped and unstarted runs apart, and that the figure tool refuses a directory that is not a run.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

DMPC, SOURCE = sys.argv[1], sys.argv[2]
failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        failures.append(f"{name}: {detail}")


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "results")
    args = [os.path.join(SOURCE, "tools", "study.sh"), "--out", out, "--seeds", "1 2", "--iterations", "2",
            "--batch", "8", "--threads", "1", "--configs", "dense_short_dmpc binary_long_terminal",
            "--dmpc", DMPC, "--set", "env.system=point_mass", "--set", "train.eval_every=1",
            "--set", "train.minibatches=20", "--archive", os.path.join(tmp, "archive")]
    status_args = [os.path.join(SOURCE, "tools", "study.sh"), "--status", "--out", out, "--seeds", "1 2",
                   "--configs", "dense_short_dmpc binary_long_terminal", "--archive", os.path.join(tmp, "archive")]
    r = subprocess.run(status_args, capture_output=True, text=True, timeout=60, cwd=SOURCE)
    check("--status before the study: every run not started", r.returncode == 0
          and r.stdout.count("not started") == 4 and "0 of 4 runs finished" in r.stdout
          and not os.path.exists(out), r.stdout + r.stderr)
    # Two runs at a time (--jobs 2), each with its own log.
    r = subprocess.run(args + ["--jobs", "2"], capture_output=True, text=True, timeout=600, cwd=SOURCE)
    check("study.sh runs to the end (two runs at a time)", r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:])
    check("each run of --jobs 2 has its log", all(
        os.path.exists(os.path.join(out, "runs", f"{c}-s{seed}.log"))
        for c in ("dense_short_dmpc", "binary_long_terminal") for seed in (1, 2)))
    r = subprocess.run(status_args, capture_output=True, text=True, timeout=60, cwd=SOURCE)
    check("--status after it: every run finished and archived", r.returncode == 0
          and r.stdout.count("archived") == 4 and "not archived" not in r.stdout
          and "4 of 4 runs finished" in r.stdout, r.stdout + r.stderr)
    # A stopped run (no FINISHED yet): --status names its iteration out of the configured count.
    stopped = os.path.join(tmp, "stopped")
    os.makedirs(os.path.join(stopped, "runs"))
    subprocess.run(["cp", "-r", os.path.join(out, "runs", "dense_short_dmpc-s1"), os.path.join(stopped, "runs")], check=True)
    os.remove(os.path.join(stopped, "runs", "dense_short_dmpc-s1", "FINISHED"))
    r = subprocess.run(status_args[:3] + [stopped, "--seeds", "1", "--configs", "dense_short_dmpc"],
                       capture_output=True, text=True, timeout=60, cwd=SOURCE)
    check("--status names a stopped run's iteration", r.returncode == 0
          and "dense_short_dmpc-s1  iteration 2 of 2," in r.stdout and "0 of 1 runs finished" in r.stdout,
          r.stdout + r.stderr)
    def run_log(config, seed):
        path = os.path.join(out, "runs", f"{config}-s{seed}.log")
        return open(path).read() if os.path.exists(path) else ""
    check("each run is archived as soon as it finishes (in its own log, not only at the study's end)", all(
        f"-> {os.path.join(tmp, 'archive', f'{c}-s{seed}')} (" in run_log(c, seed)
        for c in ("dense_short_dmpc", "binary_long_terminal") for seed in (1, 2)),
        run_log("dense_short_dmpc", 1)[-1000:])
    for name in ("fig2a-dense_short_dmpc.png", "fig2a-binary_long_terminal.png", "fig2b-dense.png",
                 "fig2b-binary.png", "fig3-dense_short_dmpc.png"):
        path = os.path.join(out, name)
        ok = os.path.exists(path) and os.path.getsize(path) > 10000
        if ok:
            with open(path, "rb") as f:
                ok = f.read(8) == b"\x89PNG\r\n\x1a\n"
        check(f"{name} is a PNG with content", ok)
    summary = open(os.path.join(out, "summary.md")).read() if os.path.exists(os.path.join(out, "summary.md")) else ""
    last_part, _, all_part = summary.partition("Over all evaluations")
    rows = [line for line in last_part.splitlines() if line.startswith("| dense_") or line.startswith("| binary_")]
    check("the summary has a row per configuration", len(rows) == 2, summary)
    # The second table (dmpc_figures.py table): every evaluation after iteration 0, over the seeds.
    table_rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in all_part.splitlines()
                  if line.startswith("| dense_") or line.startswith("| binary_")}
    check("the all-evaluations table has a row per configuration",
          sorted(table_rows) == ["binary_long_terminal", "dense_short_dmpc"], summary)
    def evaluations(config, seed):  # a run's evaluation records, iteration 0 included
        with open(os.path.join(out, "runs", f"{config}-s{seed}", "metrics.jsonl")) as f:
            return [m for m in map(json.loads, filter(str.strip, f)) if "eval_mean_cost" in m]

    def mean_sd(values):  # as the table writes it: mean ± sample standard deviation
        return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"

    collisions = []
    for seed in (1, 2):
        evals = [m for m in evaluations("binary_long_terminal", seed) if m["iteration"] > 0]
        collisions.append(100 * sum(m["eval_collision_rate"] for m in evals) / len(evals))
    expected = mean_sd(collisions) + " / "
    row = table_rows.get("binary_long_terminal", [])
    check("the table's collisions are the mean ± sd of the runs' evaluations",
          len(row) > 4 and row[4].startswith(expected), f"{expected} in {row}")
    last_ten_costs = []  # never 0 here: the point mass starts away from the goal
    for seed in (1, 2):
        evals = [m for m in evaluations("dense_short_dmpc", seed) if m["iteration"] > 0][-10:]
        last_ten_costs.append(sum(m["eval_mean_cost"] for m in evals) / len(evals))
    expected = mean_sd(last_ten_costs)
    row = table_rows.get("dense_short_dmpc", [])
    check("the table's cost is the mean ± sd of the runs' last ten evaluations",
          len(row) > 6 and row[6] == expected and statistics.mean(last_ten_costs) > 0, f"{expected} in {row}")
    costs = [evaluations("dense_short_dmpc", seed)[-1]["eval_mean_cost"] for seed in (1, 2)]
    expected = f"| {sum(costs) / 2:.2f} |"
    check("the summary's mean cost is the runs' last evaluations'",
          any(row.startswith("| dense_short_dmpc ") and row.endswith(expected) for row in rows), f"{expected} in {summary}")
    # --archive: the runs' metrics and last critic, small, and the same table and evaluation from them.
    archive = os.path.join(tmp, "archive")
    arch_run = os.path.join(archive, "dense_short_dmpc-s1")
    sizes = {}
    for root, _, files in os.walk(archive):
        for f in files:
            sizes[os.path.relpath(os.path.join(root, f), archive)] = os.path.getsize(os.path.join(root, f))
    check("the archive holds every run without replay buffers or optimizer state",
          sorted({k.split(os.sep)[0] for k in sizes}) == sorted(f"{c}-s{seed}" for c in ("dense_short_dmpc", "binary_long_terminal")
                                                               for seed in (1, 2))
          and not any(k.endswith(("replay.pt", "optimizer.pt", "metrics.jsonl")) for k in sizes)
          and os.path.exists(os.path.join(arch_run, "metrics.jsonl.gz")), sorted(sizes))
    check("an archived run is small", sum(v for k, v in sizes.items() if k.startswith("dense_short_dmpc-s1")) < 200_000,
          str(sizes))
    figures = os.path.join(SOURCE, "tools", "plots", "dmpc_figures.py")
    groups = lambda root: [a for c in ("dense_short_dmpc", "binary_long_terminal")
                           for a in ("--group", c + "=" + ",".join(os.path.join(root, f"{c}-s{seed}") for seed in (1, 2)))]
    from_runs = subprocess.run([sys.executable, figures, "table"] + groups(os.path.join(out, "runs")),
                               capture_output=True, text=True)
    from_archive = subprocess.run([sys.executable, figures, "table"] + groups(archive), capture_output=True, text=True)
    check("the table from the archive is the table from the runs",
          from_runs.returncode == 0 and from_archive.returncode == 0 and from_runs.stdout == from_archive.stdout
          and "dense_short_dmpc" in from_archive.stdout, from_runs.stdout + from_archive.stdout + from_archive.stderr)

    def eval_json(run):
        path = os.path.join(tmp, "eval.json")
        r = subprocess.run([DMPC, "eval", "--checkpoint", run, "--out", path], capture_output=True, text=True)
        return json.load(open(path))["episodes"] if r.returncode == 0 else r.stderr

    live, archived = eval_json(os.path.join(out, "runs", "dense_short_dmpc-s1")), eval_json(arch_run)
    check("dmpc eval of the archived run = of the run", isinstance(live, list) and live == archived, f"{live} / {archived}")
    before = open(os.path.join(arch_run, "metrics.jsonl.gz"), "rb").read()
    r = subprocess.run([DMPC, "train", "--out", arch_run, "--resume"], capture_output=True, text=True, timeout=120)
    check("an archived run is not resumed, and stays as it was",
          r.returncode != 0 and "archived checkpoint" in r.stderr
          and open(os.path.join(arch_run, "metrics.jsonl.gz"), "rb").read() == before
          and not os.path.exists(os.path.join(arch_run, "metrics.jsonl")), r.stdout[-500:] + r.stderr[-500:])
    archiver = os.path.join(SOURCE, "tools", "archive_runs.py")
    r = subprocess.run([sys.executable, archiver, tmp, "--into", os.path.join(tmp, "x")], capture_output=True, text=True)
    check("archive_runs.py refuses a directory that is not a run", r.returncode == 2 and "not a run directory" in r.stderr,
          r.stderr)
    r = subprocess.run([sys.executable, archiver, arch_run, "--into", os.path.join(tmp, "x")], capture_output=True, text=True)
    check("archive_runs.py refuses to archive an archive", r.returncode == 2 and "no metrics.jsonl" in r.stderr, r.stderr)

    before = os.path.getmtime(os.path.join(out, "runs", "dense_short_dmpc-s1", "FINISHED"))
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=SOURCE)
    check("a second call keeps the finished runs", r.returncode == 0 and "finished earlier, kept" in r.stdout
          and os.path.getmtime(os.path.join(out, "runs", "dense_short_dmpc-s1", "FINISHED")) == before,
          r.stdout[-1000:] + r.stderr[-1000:])
    # The machine is gone, the archive is not: a study with a new --out trains none of the archived
    # runs again and draws its figures and tables from the archive, the same as from the runs.
    again = os.path.join(tmp, "again")
    r = subprocess.run([a if a != out else again for a in args], capture_output=True, text=True, timeout=600,
                       cwd=SOURCE)
    check("a new --out trains no run finished in the archive", r.returncode == 0
          and r.stdout.count("not trained again") == 4 and not os.path.exists(os.path.join(again, "runs", "dense_short_dmpc-s1")),
          r.stdout[-1000:] + r.stderr[-1000:])
    summary_again = open(os.path.join(again, "summary.md")).read() if os.path.exists(os.path.join(again, "summary.md")) else ""
    check("... and its summary, from the archive, is the runs' summary", summary_again == summary and "dense_short_dmpc" in summary,
          summary_again)
    check("... and it draws every figure", all(os.path.getsize(os.path.join(again, n)) > 10000 for n in os.listdir(out)
                                              if n.endswith(".png")) and len([n for n in os.listdir(again) if n.endswith(".png")]) == 5)
    r = subprocess.run([a if a != out else again for a in status_args], capture_output=True, text=True, timeout=60, cwd=SOURCE)
    check("--status counts a run that is only in the archive as finished", r.returncode == 0
          and r.stdout.count("only in") == 4 and "4 of 4 runs finished" in r.stdout, r.stdout + r.stderr)
    # A run that fails fails the study, with --jobs too.
    bad = [os.path.join(SOURCE, "tools", "study.sh"), "--out", os.path.join(tmp, "bad"), "--seeds", "1 2",
           "--configs", "dense_short_dmpc", "--dmpc", DMPC, "--jobs", "2", "--set", "task.penalty=-1"]
    r = subprocess.run(bad, capture_output=True, text=True, timeout=600, cwd=SOURCE)
    check("a failing run fails the study (--jobs 2)", r.returncode != 0 and "a run failed" in r.stderr,
          r.stdout[-1000:] + r.stderr[-1000:])
    r = subprocess.run(bad[:-4] + ["--jobs", "x"], capture_output=True, text=True, timeout=60, cwd=SOURCE)
    check("a bad --jobs is refused", r.returncode == 2 and "--jobs" in r.stderr, r.stderr)
    r = subprocess.run([sys.executable, os.path.join(SOURCE, "tools", "plots", "dmpc_figures.py"), "fig2a",
                        "--run", tmp, "--out", os.path.join(tmp, "x.png"), "--dmpc", DMPC],
                       capture_output=True, text=True)
    check("the figure tool refuses a directory that is not a run",
          r.returncode != 0 and "not a run directory" in r.stderr, r.stderr)

if failures:
    print(f"\n{len(failures)} failure(s):\n  " + "\n  ".join(failures))
    sys.exit(1)
print("\nall study checks passed")
