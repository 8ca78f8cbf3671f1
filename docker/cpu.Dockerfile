# CPU image: Debian bookworm with Debian's LibTorch 1.13; builds dmpc and runs the test suite.
#   docker compose -f docker/compose.yaml run --rm test
# The install step is tools/setup.sh, the same script the README commands and .ci/run use.
FROM debian:bookworm

ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /dmpc
COPY tools/setup.sh tools/setup.sh
RUN tools/setup.sh && rm -rf /var/lib/apt/lists/*

COPY . .
RUN tools/build.sh
CMD ["tools/test.sh"]
