#!/usr/bin/env bash
# Configures and builds dmpc into ${DMPC_BUILD_DIR:-build} (Release, all targets). The CUDA backend
# is compiled whenever nvcc is found, also on machines without a GPU, so kernels that stop
# compiling are caught everywhere. Extra arguments go to the CMake configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${DMPC_BUILD_DIR:-build}"

# nvcc often lives outside PATH (/usr/local/cuda/bin); point CMake at it.
if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${DMPC_BUILD_TYPE:-Release}" "$@"
cmake --build "$build_dir" -j "$(nproc)"
