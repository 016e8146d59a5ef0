#!/usr/bin/env bash
# Configures and builds eoslab (Release, -O3, -march=native) in build/.
# Extra arguments go to CMake's configure step, e.g. -DEOS_NATIVE=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${EOS_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$BUILD_DIR" -j "$(nproc)"
