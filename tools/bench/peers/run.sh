#!/usr/bin/env bash
# Peer comparison on this machine's CPU: our iLQR against Crocoddyl's DDP (single problems) and
# against diffilqrax, a JAX iLQR batched with vmap (batches of 1 … 4096), on the identical Ballbot
# problem. Not part of the build or of CI; needs PyPI the first time.
#
#   tools/bench/peers/run.sh [--out DIR] [compare.py options, e.g. --batches 1,16,256 --repeats 10]
#
# Our side is built with the project's portable flags. (A -march=native build of this one program
# crashed in the consistency check, also with Eigen's alignment held at 16 bytes; the cause was
# not established — it mixes the wheel's portable Crocoddyl library with AVX-compiled code.)
# The batch rows are also timed with build-peers/ours_batch_native: the same source without
# Crocoddyl (-DDMPC_PEERS_OURS_ONLY) compiled -march=native, for this CPU as XLA compiles JAX;
# set PEERS_NATIVE=0 to leave it out.
# Sets up .peers-venv/ (git-ignored) with crocoddyl, jax and diffilqrax from PyPI, checks that the
# generated JAX model is fresh, builds build-peers/crocoddyl_bench against the wheel's Crocoddyl,
# runs tools/bench/peers/compare.py on one core, and writes DIR/peers.json and DIR/peers.md
# (default DIR: build-peers/results). Exits non-zero when the peers disagree on u₀ (compare.py).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
OUT=build-peers/results
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done

VENV=$ROOT/.peers-venv
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c "import crocoddyl, jax, diffilqrax" 2>/dev/null; then
  echo "== setting up $VENV (pip: crocoddyl jax diffilqrax)"
  /usr/bin/python3 -m venv "$VENV"
  nice -n 10 "$VENV/bin/pip" install -q crocoddyl jax diffilqrax
fi

echo "== generated JAX model is fresh"
/usr/bin/python3 tools/codegen/ballbot_codegen.py --py-check tools/bench/peers/generated/ballbot_model.py || {
  rc=$?; [[ $rc == 77 ]] || exit $rc; }

echo "== building build-peers/crocoddyl_bench"
PREFIX=$VENV/lib/python3.11/site-packages/cmeel.prefix
[[ -d $PREFIX ]] || PREFIX=$(ls -d "$VENV"/lib/python3*/site-packages/cmeel.prefix | head -1)
EIGEN=/usr/include/eigen3
[[ -d $EIGEN ]] || EIGEN=$ROOT/third_party/eigen3
mkdir -p build-peers
nice -n 10 g++ -std=c++17 -O3 -DNDEBUG -fno-math-errno -I"$ROOT" -isystem "$PREFIX/include" -isystem "$EIGEN" \
  tools/bench/peers/crocoddyl_bench.cpp core/thread_pool.cpp -o build-peers/crocoddyl_bench \
  -L"$PREFIX/lib" -lcrocoddyl -Wl,--disable-new-dtags,-rpath,"$PREFIX/lib" -lpthread

NATIVE=()
if [[ ${PEERS_NATIVE:-1} != 0 ]]; then
  echo "== building build-peers/ours_batch_native (-march=native, our solver only)"
  nice -n 10 g++ -std=c++17 -O3 -DNDEBUG -fno-math-errno -march=native -DDMPC_PEERS_OURS_ONLY -I"$ROOT" \
    -isystem "$EIGEN" tools/bench/peers/crocoddyl_bench.cpp core/thread_pool.cpp -o build-peers/ours_batch_native -lpthread
  NATIVE=(--native-bench build-peers/ours_batch_native)
fi

echo "== comparing (one core: taskset -c ${PEERS_CPU:-1})"
export OMP_NUM_THREADS=1
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
taskset -c "${PEERS_CPU:-1}" "$VENV/bin/python" tools/bench/peers/compare.py \
  --bench build-peers/crocoddyl_bench "${NATIVE[@]}" --out "$OUT" \
  --ours-build "portable (x86-64)" "${ARGS[@]}"
