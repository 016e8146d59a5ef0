#!/usr/bin/env bash
# Checks that a change moves no number: builds the command line at two git
# revisions, runs `eoslab reproduce all --quick` with each (one BLAS thread,
# so that no threaded reduction reorders a sum), and compares every file the
# runs wrote — each run's metrics.csv, trajectory, density and eigenvector
# files — byte for byte, and the verdict of every claim. summary.json is
# left out (it holds wall times); metrics.csv has no timing column.
#
#   usage: scripts/compare-reproduce.sh BEFORE_REV [AFTER_REV]      (AFTER_REV: the working tree)
#          scripts/compare-reproduce.sh --outputs BEFORE_DIR AFTER_DIR   (compare two finished outputs)
#   env:   EOS_COMPARE_DIR (default /tmp/eoslab-compare) holds the builds and outputs
#
# Exit status 0 when everything is equal, 1 when something differs.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${EOS_COMPARE_DIR:-/tmp/eoslab-compare}

build_and_run() {  # REV|"" NAME → $work/NAME/out
  local rev=$1 name=$2 src
  if [ -z "$rev" ]; then
    src=$PWD
  else
    src=$work/$name/src
    rm -rf "$src"
    mkdir -p "$work/$name"
    git worktree add --detach --force "$src" "$rev" >/dev/null
  fi
  cmake -S "$src" -B "$work/$name/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEOS_BUILD_TESTS=OFF \
        -DEOS_BUILD_BENCH=OFF -DEOS_MPI=OFF >/dev/null
  cmake --build "$work/$name/build" -j "$(nproc)" --target eoslab_cli >/dev/null
  rm -rf "$work/$name/out"
  "$work/$name/build/apps/eoslab" reproduce all --quick --threads 1 --quiet --out "$work/$name/out"
  if [ -n "$rev" ]; then git worktree remove --force "$src"; fi
}

if [ "${1:-}" = "--outputs" ]; then
  [ $# -eq 3 ] || { echo "usage: $0 --outputs BEFORE_DIR AFTER_DIR" >&2; exit 2; }
  before=$2
  after=$3
else
  [ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BEFORE_REV [AFTER_REV]" >&2; exit 2; }
  git rev-parse --verify -q "$1^{commit}" >/dev/null || { echo "$0: '$1' is not a revision" >&2; exit 2; }
  mkdir -p "$work"
  echo "building and running $1 (before) …"
  build_and_run "$1" before
  echo "building and running ${2:-the working tree} (after) …"
  build_and_run "${2:-}" after
  before=$work/before/out
  after=$work/after/out
fi

status=0
files=0
while IFS= read -r -d '' f; do
  rel=${f#"$before"/}
  files=$((files + 1))
  if [ ! -f "$after/$rel" ]; then
    echo "missing after: $rel"
    status=1
  elif ! cmp -s "$f" "$after/$rel"; then
    echo "differs: $rel"
    status=1
  fi
done < <(find "$before/runs" -type f \( -name '*.csv' -o -name '*.npy' -o -name 'manifest.json' \) \
           -print0 | sort -z)
while IFS= read -r -d '' f; do
  rel=${f#"$after"/}
  [ -f "$before/$rel" ] || { echo "new after: $rel"; status=1; }
done < <(find "$after/runs" -type f \( -name '*.csv' -o -name '*.npy' -o -name 'manifest.json' \) \
           -print0 | sort -z)

verdicts() { grep -h '"holds"' "$1"/*/claims.json | tr -d ' ,'; }
claims=$(verdicts "$before" | wc -l)
if ! diff <(verdicts "$before") <(verdicts "$after") >/dev/null; then
  echo "claim verdicts differ:"
  diff <(verdicts "$before") <(verdicts "$after") || true
  status=1
fi
holding=$(verdicts "$after" | grep -c 'true' || true)
if [ $status -eq 0 ]; then
  echo "equal: $files run files byte for byte (metrics.csv, trajectories, density and eigenvector files), $claims claim verdicts ($holding hold)"
fi
exit $status
