#!/usr/bin/env bash
# The paper's study in one command: every experiment configuration (dense and binary cost ×
# short (0.5 s), mid (1.0 s) and long (1.5 s) horizon × `terminal` and `running+terminal` actor)
# for several seeds, then the figures (tools/plots/dmpc_figures.py) and a summary table, all
# under one results folder.
#
#   tools/study.sh [--out runs/study] [--seeds "1 2 3"] [--iterations N] [--batch B] [--threads T]
#                  [--backend cpu|cuda|auto] [--configs "dense_short_dmpc ..."] [--dmpc build/dmpc]
#                  [--jobs J] [--archive DIR] [--set key=value ...]
#   tools/study.sh --status [--out ...] [--configs ...] [--seeds ...] [--archive DIR]
#
# Runs go to <out>/runs/<config>-s<seed>; a finished run is kept, a stopped one is resumed (so
# the study can be interrupted and started again). Figures: <out>/fig2a-<config>.png (seed 1),
# <out>/fig2b-dense.png and fig2b-binary.png (all seeds), <out>/fig3-<config>.png for the dense
# DMPC configurations (seed 1); <out>/summary.md holds the last evaluation of every run, then
# every configuration's figures over all its evaluations (`dmpc_figures.py table`).
# Without --iterations/--batch the configurations' own values are used (600 iterations of 32
# environments each: hours on a 2-core machine; see the README's Results section for the times).
# --jobs J trains J runs at a time (each on env.threads = --threads, default 1 then), its output in
# <out>/runs/<config>-s<seed>.log; on a machine of C cores, J = C one-thread runs get more done
# than one run on C threads (the critic's updates run on one thread either way).
# --archive DIR keeps what the figures and tables are made from in DIR/<config>-s<seed>/
# (tools/archive_runs.py: metrics and the last critic, ~100 kB a run), small enough to commit: each
# run as soon as it finishes (a run finished earlier when the study reaches it); the figures and
# tables can be drawn again from DIR as from <out>/runs. A run finished in DIR is not trained again
# when <out>/runs has no finished run of that name (the machine that ran it is gone): the figures
# and tables read it from DIR.
# --status trains nothing: one line per run (finished, with its wall time and whether it is in
# the archive; stopped or running, at which iteration and how long ago it last wrote a metric; not
# started) and the study's run time so far.
set -euo pipefail
cd "$(dirname "$0")/.."

out=runs/study
seeds="1 2 3"
iterations=""
batch=""
threads=""
backend=""
configs="dense_short_dmpc dense_short_terminal dense_long_dmpc dense_long_terminal dense_mid_dmpc dense_mid_terminal binary_short_dmpc binary_short_terminal binary_long_dmpc binary_long_terminal binary_mid_dmpc binary_mid_terminal"
dmpc=build/dmpc
jobs=1
archive=""
status=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    --configs) configs="$2"; shift 2 ;;
    --dmpc) dmpc="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --archive) archive="$2"; shift 2 ;;
    --set) extra+=(--set "$2"); shift 2 ;;
    --status) status=1; shift ;;
    -h|--help) sed -n 2,30p "$0"; exit 0 ;;
    *) echo "study.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3
[ -x "$python" ] || python=python3
for c in $configs; do
  [ -f "configs/$c.toml" ] || { echo "study.sh: no configs/$c.toml" >&2; exit 2; }
done

# The finished run of configuration $1, seed $2: in <out>/runs, or else in the archive; or nothing.
finished_run() {
  if [ -f "$out/runs/$1-s$2/FINISHED" ]; then echo "$out/runs/$1-s$2"
  elif [ -n "$archive" ] && [ -f "$archive/$1-s$2/FINISHED" ]; then echo "$archive/$1-s$2"
  fi
}

# Where the figures read run $1-s$2 from: its finished run (<out>/runs or the archive), or <out>/runs.
run_dir() {
  local run
  run=$(finished_run "$1" "$2")
  echo "${run:-$out/runs/$1-s$2}"
}

if [ -n "$status" ]; then
  status_runs=()  # <config>-s<seed>=<where its run is read from>
  for c in $configs; do for s in $seeds; do status_runs+=("$c-s$s=$(run_dir "$c" "$s")"); done; done
  "$python" - "$out" "$archive" "${status_runs[@]}" <<'EOF'
import os, sys, time
sys.path.insert(0, "tools/plots")
from dmpc_figures import run_config, run_metrics  # how the figures and tables read a run
out, archive = sys.argv[1], sys.argv[2]
runs = dict(arg.split("=", 1) for arg in sys.argv[3:])  # name -> run directory (study.sh's run_dir)
width = max(len(n) for n in runs)
finished, run_seconds = 0, 0.0
for name, run in runs.items():
    only_archived = run != os.path.join(out, "runs", name)  # its run directory is gone
    metrics = run_metrics(run) if only_archived or os.path.exists(os.path.join(run, "metrics.jsonl")) else []
    wall = max((m.get("wall_time", 0) for m in metrics), default=0)
    run_seconds += wall
    if os.path.exists(os.path.join(run, "FINISHED")):
        finished += 1
        kept = os.path.isdir(os.path.join(archive, name)) if archive else None
        state = f"finished, {wall / 60:.0f} min" + ("" if kept is None else ", archived" if kept else ", not archived")
        if only_archived:
            state += f" (only in {archive})"
    elif metrics:
        target = run_config(run)["train"]["iterations"]
        ago = time.time() - os.path.getmtime(os.path.join(run, "metrics.jsonl"))
        state = f"iteration {metrics[-1]['iteration']} of {target}, {wall / 60:.0f} min, last metric {ago / 60:.1f} min ago"
    else:
        state = "not started"
    print(f"{name:<{width}}  {state}")
print(f"== {finished} of {len(runs)} runs finished; {run_seconds / 3600:.1f} h of run time so far")
EOF
  exit 0
fi
[ -x "$dmpc" ] || { echo "study.sh: $dmpc is not an executable (build first: tools/build.sh)" >&2; exit 2; }
case "$jobs" in ''|*[!0-9]*|0) echo "study.sh: --jobs needs a positive whole number, not '$jobs'" >&2; exit 2 ;; esac
[ "$jobs" -gt 1 ] && [ -z "$threads" ] && threads=1

settings=("${extra[@]}")
[ -n "$iterations" ] && settings+=(--set "train.iterations=$iterations")
[ -n "$batch" ] && settings+=(--set "env.batch=$batch")
[ -n "$threads" ] && settings+=(--set "env.threads=$threads")
[ -n "$backend" ] && settings+=(--backend "$backend")

# With --archive, the finished run $1 into DIR (replacing an older archive of it).
archive_run() {
  [ -z "$archive" ] || "$python" tools/archive_runs.py "$1" --into "$archive"
}

# One run of the study: trained or resumed.
train_run() {
  local c="$1" s="$2"
  local run="$out/runs/$c-s$s" start rc=0
  start=$(date +%s)
  if [ -f "$run/config.toml" ] && [ -e "$run/checkpoints/latest" ]; then
    echo "== $run: resuming"
    "$dmpc" train --out "$run" --resume || rc=$?
  else
    rm -rf "$run"  # a run that stopped before its first checkpoint holds nothing to keep
    echo "== $run: training"
    "$dmpc" train --config "configs/$c.toml" --set "seed=$s" "${settings[@]}" --out "$run" || rc=$?
  fi
  echo "== $run: $(( $(date +%s) - start )) s, exit status $rc"
  # Archived as soon as it finishes: what a long study has done survives the machine.
  if [ "$rc" -eq 0 ]; then archive_run "$run" || rc=$?; fi
  return "$rc"
}

# The run directories of configuration $1, one per seed, comma-separated (a --group of dmpc_figures.py).
seed_runs() {
  local runs="" s
  for s in $seeds; do runs="$runs${runs:+,}$(run_dir "$1" "$s")"; done
  echo "$runs"
}

mkdir -p "$out/runs"
study_start=$(date +%s)
failed=0
pids=()
for c in $configs; do
  for s in $seeds; do
    run="$out/runs/$c-s$s"
    if [ -f "$run/FINISHED" ]; then
      echo "== $run: finished earlier, kept"
      archive_run "$run" || failed=1
    elif [ -n "$(finished_run "$c" "$s")" ]; then
      echo "== $run: finished earlier, in $archive/$c-s$s: kept, not trained again"
    elif [ "$jobs" -eq 1 ]; then
      train_run "$c" "$s"
    else
      while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || failed=1; done
      echo "== $run: started (log: $run.log)"
      train_run "$c" "$s" > "$run.log" 2>&1 &
      pids+=($!)
    fi
  done
done
# Every background run's exit status (127: already collected by wait -n above).
for pid in "${pids[@]}"; do
  rc=0
  wait "$pid" 2>/dev/null || rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 127 ] || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "study.sh: a run failed (see the logs in $out/runs/)" >&2
  exit 1
fi
echo "== all runs: $(( $(date +%s) - study_start )) s"

figures=tools/plots/dmpc_figures.py
first_seed=${seeds%% *}
for c in $configs; do
  "$python" "$figures" fig2a --run "$(run_dir "$c" "$first_seed")" --out "$out/fig2a-$c.png" --dmpc "$dmpc"
done
for kind in dense binary; do
  groups=()
  for c in $configs; do
    case "$c" in
      "$kind"_*)
        # The curve's name with the horizon the run used (its resolved config.toml).
        horizon=$("$python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["actor"]["horizon"])' \
          "$(run_dir "$c" "$first_seed")/config.toml")
        groups+=(--group "${c#"$kind"_} ($horizon s)=$(seed_runs "$c")") ;;
    esac
  done
  [ ${#groups[@]} -gt 0 ] && "$python" "$figures" fig2b "${groups[@]}" --title "$kind cost" --out "$out/fig2b-$kind.png"
done
for c in $configs; do
  case "$c" in
    dense_*_dmpc) "$python" "$figures" fig3 --run "$(run_dir "$c" "$first_seed")" --out "$out/fig3-$c.png" --dmpc "$dmpc" ;;
  esac
done

# The last evaluation of every run, and the mean over seeds per configuration.
last_groups=()
for c in $configs; do last_groups+=("$c=$(seed_runs "$c")"); done
"$python" - "$out" "${last_groups[@]}" <<'EOF'
import os, sys
sys.path.insert(0, "tools/plots")
from dmpc_figures import run_metrics  # a run's metrics, from the run or its archive
out = sys.argv[1]
lines = ["| configuration | seeds | iterations | eval success % (per seed) | mean | eval collisions % | eval falls % | eval cost |",
         "|---|---|---|---|---|---|---|---|"]
for group in sys.argv[2:]:
    c, _, runs = group.partition("=")
    last = [[m for m in run_metrics(run) if "eval_success_rate" in m][-1] for run in runs.split(",")]
    mean = lambda k: sum(m[k] for m in last) / len(last)
    lines.append(f"| {c} | {len(last)} | {last[0]['iteration']} | "
                 + ", ".join(f"{100 * m['eval_success_rate']:.0f}" for m in last)
                 + f" | {100 * mean('eval_success_rate'):.1f} | {100 * mean('eval_collision_rate'):.1f} | "
                 f"{100 * mean('eval_fall_rate'):.1f} | {mean('eval_mean_cost'):.2f} |")
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
# Every evaluation after iteration 0, mean ± standard deviation over the seeds (the README's tables).
table_groups=()
for c in $configs; do table_groups+=(--group "$c=$(seed_runs "$c")"); done
printf '\nOver all evaluations after iteration 0 (mean ± standard deviation over the seeds):\n\n' | tee -a "$out/summary.md"
"$python" "$figures" table "${table_groups[@]}" | tee -a "$out/summary.md"
echo "== wrote $out/summary.md and the figures in $out/"
