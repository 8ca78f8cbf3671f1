# CUDA image: an nvidia/cuda devel base, LibTorch built for the same CUDA major version, and the
# rest from the distribution (tools/setup.sh, without Debian's CPU-only libtorch-dev).
#   docker compose -f docker/compose.yaml run --rm test-cuda      (needs the NVIDIA container toolkit)
#
# LibTorch comes from download.pytorch.org as the cxx11-ABI "shared-with-deps" zip. Pick the build
# whose CUDA version (cuXYZ) matches the base image's major version and is not newer than the
# host driver supports: `nvidia-smi` prints the highest CUDA version the driver runs. Change both
# ARGs together, e.g. CUDA_IMAGE=12.8.1-devel-ubuntu24.04 with LIBTORCH_CUDA=cu128.
ARG CUDA_IMAGE=12.8.1-devel-ubuntu24.04
FROM nvidia/cuda:${CUDA_IMAGE}

ARG LIBTORCH_VERSION=2.7.1
ARG LIBTORCH_CUDA=cu128
# Hopper by default; add more with e.g. --build-arg CUDA_ARCHITECTURES="80;90".
ARG CUDA_ARCHITECTURES=90

ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /dmpc
COPY tools/setup.sh tools/setup.sh
RUN DMPC_NO_DEBIAN_LIBTORCH=1 tools/setup.sh \
 && apt-get install -y -qq --no-install-recommends curl unzip ca-certificates \
 && curl -fsSL -o /tmp/libtorch.zip \
    "https://download.pytorch.org/libtorch/${LIBTORCH_CUDA}/libtorch-cxx11-abi-shared-with-deps-${LIBTORCH_VERSION}%2B${LIBTORCH_CUDA}.zip" \
 && unzip -q /tmp/libtorch.zip -d /opt && rm /tmp/libtorch.zip \
 && rm -rf /var/lib/apt/lists/*

ENV CMAKE_PREFIX_PATH=/opt/libtorch
ENV LD_LIBRARY_PATH=/opt/libtorch/lib
ENV DMPC_NO_DEBIAN_LIBTORCH=1
ENV CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}

COPY . .
RUN tools/build.sh -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES}"
CMD ["sh", "-c", "tools/test.sh -DCMAKE_CUDA_ARCHITECTURES=\"$CUDA_ARCHITECTURES\""]
