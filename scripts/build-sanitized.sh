#!/usr/bin/env bash
# Configures and builds eoslab with clang, AddressSanitizer, UBSan
# (float-cast-overflow included) and libFuzzer coverage in build-fuzz/: the
# test suite, the command line and the fuzz targets, one build for both
# scripts/sanitize.sh and scripts/fuzz.sh. Without MPI: Open MPI's own
# allocations would drown LeakSanitizer's report (distributed/ is tested
# in the plain build).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEOS_FUZZ=ON -DEOS_BUILD_BENCH=OFF -DEOS_NATIVE=OFF -DEOS_MPI=OFF
cmake --build build-fuzz -j "$(nproc)"
