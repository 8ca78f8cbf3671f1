#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything (CUDA targets included
# when nvcc is present) and runs the whole test suite. GPU tests skip themselves without a device.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh "$@"
ctest --test-dir "${DMPC_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
