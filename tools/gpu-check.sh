#!/usr/bin/env bash
# Everything a session with a lent GPU needs, in one call (shared/gpu.md): configure and build
# with CUDA against the LibTorch of the machine's Python, run `ctest -L gpu`, run the benchmarks,
# and write logs and benchmark JSON under $OUT (else the folder given as the first argument, else
# gpu-check-out/). Header-only dependencies the GPU machine lacks come from third_party/ (make it
# here with tools/vendor.sh and name it in the run's `carry`). Without a GPU it stops at once.
#
#   device run:  tools/gpu-check.sh            (carry: third_party; .whl too for the peers step)
#   env:         DMPC_GPU_QUICK=1 runs a reduced benchmark sweep
#                DMPC_GPU_STEPS="tests ctest bench train peers profile torch" (the default: all of
#                them, in this order) chooses the steps after the build of the GPU unit tests
#
# At most 8 files come back from a device run: summary.txt, build.log (the build and every
# benchmark's stderr), gpu-tests.log, ctest-gpu.log, bench.jsonl, train.log (training and the
# LibTorch tests), ncu.txt, gpu-peers.tar.gz.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-${1:-gpu-check-out}}"
mkdir -p "$out"
log() { echo "gpu-check: $*" | tee -a "$out/summary.txt"; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >"$out/summary.txt" 2>&1; then
  log "no GPU here (nvidia-smi missing or failing): nothing to check"
  exit 2
fi
log "device: $(head -1 "$out/summary.txt")"

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

log "host: $(nproc) cores; $(nvcc --version 2>/dev/null | tail -1); cmake $(cmake --version | head -1 | awk '{print $3}'); torch $("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null)"

build=build-gpu
steps=" ${DMPC_GPU_STEPS:-tests ctest bench train peers profile torch} "
want() { [[ "$steps" == *" $1 "* ]]; }
quick=${DMPC_GPU_QUICK:-0}
keep_going=()
[ ${#generator[@]} -gt 0 ] && keep_going=(-- -k 0)
start=$(date +%s)
if ! cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DDMPC_WITH_CUDA=ON \
      -DCMAKE_CUDA_COMPILER="$nvcc_path" -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DCMAKE_PREFIX_PATH="$prefix" >"$out/build.log" 2>&1; then
  log "configure failed (tail of $out/build.log):"; tail -20 "$out/build.log"
  exit 4
fi
# The GPU unit tests need no LibTorch: build and run them first, so that a LibTorch problem in
# the trainer cannot hide the kernels' results.
if ! cmake --build "$build" -j "$(nproc)" --target dmpc_gpu_tests "${keep_going[@]}" >>"$out/build.log" 2>&1; then
  log "build of dmpc_gpu_tests failed:"; grep -m 20 -E "error" "$out/build.log"
  exit 5
fi
log "configure + build of the GPU tests: $(( $(date +%s) - start )) s"
rc=0
if want tests; then
  "$build/tests/cuda/dmpc_gpu_tests" >"$out/gpu-tests.log" 2>&1
  unit_rc=$?
  log "dmpc_gpu_tests: exit $unit_rc ($(grep -E '^\[  (PASSED|FAILED)  \] [0-9]' "$out/gpu-tests.log" | tr '\n' ' '))"
  grep -E "deviation|FAILED  \]" "$out/gpu-tests.log" | tee -a "$out/summary.txt"
  [ $unit_rc -ne 0 ] && rc=$unit_rc
fi

start=$(date +%s)
if ! cmake --build "$build" -j "$(nproc)" --target dmpc dmpc_torch_tests "${keep_going[@]}" >>"$out/build.log" 2>&1; then
  log "build of dmpc / dmpc_torch_tests failed:"; grep -m 30 -E "error" "$out/build.log"
  exit 5
fi
log "build of dmpc and the LibTorch tests: $(( $(date +%s) - start )) s"

if want ctest; then
  # Everything labelled gpu (the unit tests again, and the CPU-vs-GPU training comparison).
  ctest --test-dir "$build" -L gpu -V --timeout 300 >"$out/ctest-gpu.log" 2>&1
  ctest_rc=$?
  log "ctest -L gpu: exit $ctest_rc ($(grep -E 'tests passed|tests failed' "$out/ctest-gpu.log" | tail -1))"
  if ! grep -q backends_agree "$out/ctest-gpu.log"; then  # not registered: no /usr/bin/python3 here
    python3 tests/tools/test_backends.py "$build/dmpc" . >>"$out/ctest-gpu.log" 2>&1
    backends_rc=$?
    log "test_backends.py (run directly): exit $backends_rc"
    [ $backends_rc -ne 0 ] && ctest_rc=$backends_rc
  fi
  if ! grep -q nccl_one_gpu "$out/ctest-gpu.log"; then  # the same for the NCCL test (exit 77: skipped)
    python3 tests/tools/test_nccl.py "$build/dmpc" . "$(command -v mpirun || true)" >>"$out/ctest-gpu.log" 2>&1
    nccl_rc=$?
    log "test_nccl.py (run directly): exit $nccl_rc"
    [ $nccl_rc -ne 0 ] && [ $nccl_rc -ne 77 ] && ctest_rc=$nccl_rc
  fi
  "$build/dmpc" info | grep -E "MPI|NCCL" | tee -a "$out/summary.txt"
  grep -E "largest relative" "$out/ctest-gpu.log" | tee -a "$out/summary.txt"
  [ $ctest_rc -ne 0 ] && rc=$ctest_rc
fi

bench="$out/bench.jsonl"
touch "$bench"
if want bench; then
  batches="64 256 1024 4096 16384 65536 262144 1048576"
  [ "$quick" = "1" ] && batches="1024 65536 1048576"
  for b in $batches; do
    timeout 60 "$build/dmpc" bench env --backend cuda --env ballbot --batch "$b" --steps 100 \
      >>"$bench" 2>>"$out/build.log" || log "bench env cuda batch $b failed"
  done
  timeout 120 "$build/dmpc" bench env --backend cpu --env ballbot --batch 4096 --steps 100 --rounds 3 \
    >>"$bench" 2>>"$out/build.log" || log "bench env cpu failed"
  log "bench env: best cuda $(grep '"bench": "env", "backend": "cuda"' "$bench" | grep -o '"substeps_per_second": [0-9.e+]*' | sort -t: -k2 -g | tail -1)"
  actor_batches="64 256 1024 4096 16384 65536"
  [ "$quick" = "1" ] && actor_batches="4096 65536"
  for layout in thread_per_problem knot_parallel; do
    for b in $actor_batches; do
      timeout 60 "$build/dmpc" bench actor --backend cuda --env ballbot --cost dmpc --batch "$b" --knots 50 \
        --iters 1 --steps 10 --rounds 3 --layout $layout >>"$bench" 2>>"$out/build.log" || log "bench actor cuda $layout batch $b failed"
    done
  done
  for block in 32 128 256; do  # threads per block, at the largest batch
    timeout 60 "$build/dmpc" bench actor --backend cuda --env ballbot --cost dmpc --batch 65536 --knots 50 \
      --iters 1 --steps 10 --rounds 3 --block $block >>"$bench" 2>>"$out/build.log" || log "bench actor cuda block $block failed"
  done
  log "bench actor cuda (layout/threads per block B: solves per second): $(grep '"bench": "actor", "backend": "cuda"' "$bench" \
    | sed -E 's/.*"batch": ([0-9]+).*"layout": "([a-z_]+)", "threads_per_block": ([0-9]+).*"solves_per_second": ([0-9.e+]+).*/\2\/\3 B=\1: \4;/' | tr '\n' ' ')"
  for t in 1 0; do
    timeout 120 "$build/dmpc" bench actor --env ballbot --cost dmpc --batch 256 --knots 50 --iters 1 \
      --threads "$t" --steps 5 --rounds 3 >>"$bench" 2>>"$out/build.log" || log "bench actor cpu threads $t failed"
  done
fi

# The GPU half of the peer comparison (README "Against peers"): our CUDA actor against diffilqrax
# under jax.vmap on this GPU; needs the wheels in .whl/ (diffilqrax, jaxopt).
if want peers; then
  if ls .whl/diffilqrax-*.whl >/dev/null 2>&1 && python3 -c 'import jax' 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/peers-site \
      .whl/*.whl >>"$out/build.log" 2>&1
    peers_dir=$(mktemp -d)/gpu-peers
    mkdir -p "$peers_dir"
    if "$nvcc_path" -O3 -std=c++17 --expt-relaxed-constexpr -arch=sm_90 -x cu -I. \
         tools/bench/peers/gpu_batch_bench.cpp -L"$build/cuda" -ldmpc_cuda -o "$build/gpu_batch_bench" \
         >>"$out/build.log" 2>&1; then
      peer_batches="256,1024,4096,16384"
      [ "$quick" = "1" ] && peer_batches="1024,4096"
      PYTHONPATH=/tmp/peers-site timeout 240 python3 tools/bench/peers/gpu_compare.py --repeats 5 \
        --bench "$build/gpu_batch_bench" --out "$peers_dir" --batches "$peer_batches" >"$peers_dir/log.txt" 2>&1
      log "GPU peers: exit $?"
      tail -12 "$peers_dir/log.txt" | tee -a "$out/summary.txt"
      tar -czf "$out/gpu-peers.tar.gz" -C "$(dirname "$peers_dir")" gpu-peers
    else
      log "GPU peers: building gpu_batch_bench failed (see build.log)"
    fi
  else
    log "GPU peers: skipped (no .whl/diffilqrax-*.whl carried, or no JAX here)"
  fi
fi

if want train; then
  # The whole training iteration (episodes on the GPU, records to the host, targets, critic on CUDA).
  train_batches="1024 16384 65536"
  [ "$quick" = "1" ] && train_batches="65536"
  for layout in thread_per_problem knot_parallel; do
    for b in $train_batches; do
      timeout 150 "$build/dmpc" bench train --backend cuda --env ballbot --batch "$b" --knots 50 --iters 1 \
        --rounds 1 --minibatches 100 --set actor.gpu_layout=$layout >>"$bench" 2>>"$out/build.log" \
        || log "bench train cuda $layout batch $b failed"
    done
  done
  timeout 150 "$build/dmpc" bench train --backend cpu --env ballbot --batch 64 --knots 50 --iters 1 \
    --threads 1 --rounds 1 --minibatches 100 >>"$bench" 2>>"$out/build.log" || log "bench train cpu 1 thread failed"
  timeout 150 "$build/dmpc" bench train --backend cpu --env ballbot --batch 256 --knots 50 --iters 1 \
    --threads 0 --rounds 1 --minibatches 100 >>"$bench" 2>>"$out/build.log" || log "bench train cpu all threads failed"

  # The default training job on the GPU backend, a few iterations (the Ballbot, walls, dense cost).
  train_dir=$(mktemp -d)/run
  timeout 240 "$build/dmpc" train --config configs/default.toml --out "$train_dir" --backend cuda \
    --set train.iterations=4 --set train.eval_every=2 >"$out/train.log" 2>&1
  log "train --backend cuda (default configuration, 4 iterations): exit $?"
  cat "$train_dir/metrics.jsonl" >>"$out/train.log" 2>/dev/null
fi

# Where the GPU actor spends its time: Nsight Compute on one solve of each layout (quick: the
# knot-parallel one only; skipped when ncu is missing).
if want profile && command -v ncu >/dev/null 2>&1; then
  : >"$out/ncu.txt"
  if [ "$quick" != "1" ]; then
    timeout 150 ncu --section SpeedOfLight --section Occupancy --section LaunchStats \
      --section MemoryWorkloadAnalysis --section WarpStateStats -k regex:actor_solve -c 1 \
      "$build/dmpc" bench actor --backend cuda --env ballbot --cost dmpc --batch 65536 --knots 50 \
      --iters 1 --steps 1 --rounds 1 >>"$out/ncu.txt" 2>&1
    log "ncu on actor_solve_kernel (B = 65536): exit $?"
  fi
  timeout 150 ncu --section SpeedOfLight --section Occupancy --section LaunchStats \
    --section MemoryWorkloadAnalysis --section WarpStateStats -k regex:"actor_(begin|approximate|step)" -c 3 \
    "$build/dmpc" bench actor --backend cuda --env ballbot --cost dmpc --batch 65536 --knots 50 \
    --iters 1 --steps 1 --rounds 1 --layout knot_parallel >>"$out/ncu.txt" 2>&1
  log "ncu on the knot-parallel kernels (B = 65536): exit $?"
fi

if want torch; then
  # (appended to train.log: at most 8 files come back from a device run)
  echo "=== dmpc_torch_tests ===" >>"$out/train.log"
  timeout 240 "$build/tests/dmpc_torch_tests" >"$out/torch-tests.tmp" 2>&1
  torch_rc=$?
  log "dmpc_torch_tests against this LibTorch: exit $torch_rc ($(grep -E 'PASSED|FAILED' "$out/torch-tests.tmp" | head -3 | tr '\n' ' '))"
  cat "$out/torch-tests.tmp" >>"$out/train.log"; rm -f "$out/torch-tests.tmp"

fi

log "done; benchmarks in $bench"
exit $rc
