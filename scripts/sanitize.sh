#!/usr/bin/env bash
# The hardening checks CI runs after the test suite: every test under
# AddressSanitizer + UndefinedBehaviorSanitizer (clang, float-cast-overflow
# included, leaks detected), then a short bounded run of every fuzz target.
#   bash scripts/sanitize.sh [--fuzz-seconds N]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=15
while [ $# -gt 0 ]; do
  case "$1" in
    --fuzz-seconds) fuzz_seconds="$2"; shift 2 ;;
    *) echo "sanitize.sh: unknown argument '$1' (expected --fuzz-seconds N)" >&2; exit 2 ;;
  esac
done
bash scripts/install-deps.sh
bash scripts/build-sanitized.sh
# The consumer test builds an outside project against the installed package:
# it checks packaging, not memory, and is left to the plain build; so are the
# test cases labelled slow (*_slow: training at Fashion-MNIST scale, ~10× slower
# under the sanitizers; the same code runs here in the smaller tests).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-fuzz --output-on-failure -E 'consumer|_slow$'

bash scripts/fuzz.sh --no-build --seconds "$fuzz_seconds" --seed 1
