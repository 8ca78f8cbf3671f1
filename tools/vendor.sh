#!/usr/bin/env bash
# Copies the header-only dependencies (and GoogleTest's sources) from this Debian machine into
# third_party/ (git-ignored), for machines that lack them: the lent GPU machine has no Debian
# packages, so a GPU session carries third_party/ with the working tree (shared/gpu.md).
# CMake falls back to third_party/ when a package is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh >/dev/null
rm -rf third_party
mkdir -p third_party/tomlplusplus/include third_party/cli11/include
cp -r /usr/include/toml++ third_party/tomlplusplus/include/
cp -r /usr/include/CLI third_party/cli11/include/
cp -r /usr/include/eigen3 third_party/eigen3
cp -r /usr/src/googletest third_party/googletest
du -sh third_party
