#!/usr/bin/env bash
# Everything a session with a lent GPU needs, in one call (shared/gpu.md): configure and build
# with CUDA against the LibTorch of the machine's Python, run `ctest -L gpu`, run the benchmarks,
# and write logs and benchmark JSON under $OUT (else the folder given as the first argument, else
# gpu-check-out/). Header-only dependencies the GPU machine lacks come from third_party/ (make it
# here with tools/vendor.sh and name it in the run's `carry`). Without a GPU it stops at once.
#
#   device run:  tools/gpu-check.sh            (carry: third_party)
#   env:         DMPC_GPU_QUICK=1 runs a reduced benchmark sweep
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-${1:-gpu-check-out}}"
mkdir -p "$out"
log() { echo "gpu-check: $*" | tee -a "$out/summary.txt"; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >"$out/nvidia-smi.txt" 2>&1; then
  log "no GPU here (nvidia-smi missing or failing): nothing to check"
  exit 2
fi
log "device: $(head -1 "$out/nvidia-smi.txt")"

missing=()
for dep in third_party/eigen3/Eigen third_party/tomlplusplus/include/toml++ \
           third_party/cli11/include/CLI third_party/googletest/CMakeLists.txt; do
  [ -e "$dep" ] || missing+=("$dep")
done
if [ ${#missing[@]} -gt 0 ] && ! [ -e /usr/include/toml++ ]; then
  log "missing header-only dependencies: ${missing[*]} (run tools/vendor.sh where they are installed and carry third_party/)"
  exit 3
fi
python=$(command -v python3 || true)
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)
if [ -z "$prefix" ]; then
  log "no LibTorch: python3 cannot import torch"
  exit 3
fi
log "LibTorch from $prefix"
nvcc_path=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)

build=build-gpu
start=$(date +%s)
if ! cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DDMPC_WITH_CUDA=ON \
      -DCMAKE_CUDA_COMPILER="$nvcc_path" -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DCMAKE_PREFIX_PATH="$prefix" >"$out/configure.log" 2>&1; then
  log "configure failed (tail of $out/configure.log):"; tail -20 "$out/configure.log"
  exit 4
fi
if ! cmake --build "$build" -j "$(nproc)" --target dmpc dmpc_gpu_tests >"$out/build.log" 2>&1; then
  log "build failed (tail of $out/build.log):"; grep -m 20 -E "error" "$out/build.log"
  exit 5
fi
log "configure + build: $(( $(date +%s) - start )) s"

ctest --test-dir "$build" -L gpu --output-on-failure >"$out/ctest-gpu.log" 2>&1
ctest_rc=$?
log "ctest -L gpu: exit $ctest_rc ($(grep -E 'tests passed|tests failed' "$out/ctest-gpu.log" | tail -1))"

batches="64 256 1024 4096 16384 65536"
[ "${DMPC_GPU_QUICK:-0}" = "1" ] && batches="1024 65536"
: >"$out/bench-env.jsonl"
for b in $batches; do
  timeout 120 "$build/dmpc" bench env --backend cuda --env ballbot --batch "$b" --steps 100 \
    >>"$out/bench-env.jsonl" 2>>"$out/bench.err" || log "bench env cuda batch $b failed"
done
timeout 120 "$build/dmpc" bench env --backend cpu --env ballbot --batch 4096 --steps 100 \
  >>"$out/bench-env.jsonl" 2>>"$out/bench.err" || log "bench env cpu failed"
: >"$out/bench-actor.jsonl"
for c in quadratic dmpc; do
  timeout 120 "$build/dmpc" bench actor --env ballbot --cost "$c" --batch 64 --knots 50 --iters 1 \
    --threads 1 >>"$out/bench-actor.jsonl" 2>>"$out/bench.err" || log "bench actor $c failed"
done
log "benchmarks: $out/bench-env.jsonl, $out/bench-actor.jsonl"
exit $ctest_rc
