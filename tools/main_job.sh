#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the main job on the
# default configuration (CPU when there is no GPU).
#
# Until the DMPC trainer lands this is the environment demo: a batch of Ballbot episodes of the
# walled target-reaching task with an uncontrolled robot, summarised (how they ended, cost,
# throughput), and one simulated trajectory written to runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
build_dir="${DMPC_BUILD_DIR:-build}"
"$build_dir/dmpc" info
"$build_dir/dmpc" rollout --config configs/default.toml "$@"
"$build_dir/dmpc" simulate --env ballbot \
  --x0 0,0,0,-0.0153340390,0.0668695652,0,0,0,0,0 --u 0,0,0 \
  --dt 0.005 --steps 100 --noise 5e-4 --seed 1 --out runs/demo/ballbot_fall.csv
