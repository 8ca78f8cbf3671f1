#!/usr/bin/env bash
# Installs what dmpc needs on Debian 12 (bookworm) that is not there yet.
# Shared by the README's commands, .ci/run and docker/cpu.Dockerfile: one list, one place.
# Runs apt-get itself when root, through sudo otherwise; does nothing when all is present.
# DMPC_NO_DEBIAN_LIBTORCH=1 leaves out libtorch-dev, for images that bring a CUDA LibTorch and
# pass it to CMake through CMAKE_PREFIX_PATH (docker/cuda.Dockerfile).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libtorch-dev libeigen3-dev libtomlplusplus-dev libcli11-dev
  libopenblas0-serial   # Debian's LibTorch calls the system BLAS; without OpenBLAS that is the
                        # reference BLAS, and the critic's updates run 2-3x slower (README Training)
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin
  python3 python3-sympy python3-numpy python3-matplotlib
)

if [ "${DMPC_NO_DEBIAN_LIBTORCH:-0}" = "1" ]; then
  kept=()
  for p in "${packages[@]}"; do [ "$p" = libtorch-dev ] || kept+=("$p"); done
  packages=("${kept[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  apt_get=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
  apt_get=(sudo apt-get)
else
  echo "setup: missing packages (${missing[*]}) and not root, no sudo: install them and rerun" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
