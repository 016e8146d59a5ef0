#!/usr/bin/env bash
# Install dependencies, build, run every test (CTest: one Boost.Test program
# per library folder, plus the installed-package consumer check).
#   --sanitize   also build with ASan + UBSan in build-sanitize/ and run the tests there
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    *) echo "test.sh: unknown argument '$arg' (expected --sanitize)" >&2; exit 2 ;;
  esac
done
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure
if [ "$sanitize" = 1 ]; then
  cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEOS_SANITIZE=ON -DEOS_BUILD_BENCH=OFF
  cmake --build build-sanitize -j "$(nproc)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-sanitize --output-on-failure -E consumer
fi
