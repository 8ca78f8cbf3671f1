#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and trains DMPC on the default
# configuration (the Ballbot, walls, dense cost; CPU when there is no GPU). Each call starts a new
# run directory under runs/; extra arguments go to `dmpc train` (e.g. --set train.iterations=20).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
build_dir="${DMPC_BUILD_DIR:-build}"
"$build_dir/dmpc" info
out="runs/default-$(date +%Y%m%d-%H%M%S)"
"$build_dir/dmpc" train --config configs/default.toml --out "$out" "$@"
"$build_dir/dmpc" eval --checkpoint "$out" --out "$out/eval.json"
