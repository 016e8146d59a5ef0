#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/) against every parser of eoslab,
# built with clang, ASan, UBSan and float-cast-overflow in build-fuzz/.
#
#   bash scripts/fuzz.sh [--seconds N] [--seed S] [--no-build] [TARGET...]
#
# N seconds per target (default 60; CI runs 15 through scripts/sanitize.sh,
# with --seed 1 so that its mutations are the same from run to run).
# Seeds come from tests/fuzz/corpus/TARGET (read only); what the fuzzer
# finds interesting accumulates in build-fuzz/corpus/TARGET, so a longer run
# later starts where this one stopped. A crash, a sanitizer report, a hang
# (over 10 s on one input), one allocation over 64 MiB or a resident size
# over 2 GiB is a finding: the input is saved as build-fuzz/findings/TARGET-*
# and the script exits 1. Replay one with: build-fuzz/tests/fuzz/fuzz_TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
seed=0  # 0: libFuzzer picks one
build=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -*) echo "fuzz.sh: unknown option '$1' (expected --seconds N, --seed S, --no-build)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(idx idx_gz cifar csv npy spec manifest state metrics_csv plugin_spec cli_values)
fi
if [ "$build" = 1 ]; then
  bash scripts/build-sanitized.sh
fi
mkdir -p build-fuzz/findings
failed=()
for t in "${targets[@]}"; do
  exe=build-fuzz/tests/fuzz/fuzz_$t
  seeds=tests/fuzz/corpus/$t
  if [ ! -x "$exe" ] || [ ! -d "$seeds" ]; then
    echo "fuzz.sh: no target '$t' (expected one of tests/fuzz/fuzz_*.cpp with seeds in tests/fuzz/corpus/)" >&2
    exit 2
  fi
  mkdir -p "build-fuzz/corpus/$t"
  echo "== fuzz_$t: ${seconds} s"
  if ! "$exe" "build-fuzz/corpus/$t" "$seeds" -max_total_time="$seconds" -seed="$seed" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=64 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/findings/$t-" 2> "build-fuzz/findings/$t.log"; then
    failed+=("$t")
    tail -40 "build-fuzz/findings/$t.log"
  else
    grep -E "^stat::(number_of_executed_units|new_units_added)|^Done" "build-fuzz/findings/$t.log" | tr '\n' ' '
    echo
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in ${failed[*]} (inputs in build-fuzz/findings/)" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds} s each, no findings"
