#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and trains DMPC on the default
# configuration (the Ballbot, walls, dense cost; CPU when there is no GPU). Each call starts a new
# run directory under runs/; extra arguments go to `dmpc train` (e.g. --set train.iterations=20).
# Then it evaluates the last checkpoint (eval.json) and the best evaluation's (eval-best.json).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
build_dir="${DMPC_BUILD_DIR:-build}"
"$build_dir/dmpc" info
out="runs/default-$(date +%Y%m%d-%H%M%S)"
"$build_dir/dmpc" train --config configs/default.toml --out "$out" "$@"
"$build_dir/dmpc" eval --checkpoint "$out" --out "$out/eval.json"
# Training's evaluations swing from one to the next; the run keeps the checkpoint of its best one
# (when that iteration was checkpointed), which is the policy to use: evaluate it too.
if [ -e "$out/checkpoints/best" ]; then
  "$build_dir/dmpc" eval --checkpoint "$out/checkpoints/best" --out "$out/eval-best.json"
fi
