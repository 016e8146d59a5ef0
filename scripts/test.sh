#!/usr/bin/env bash
# Install dependencies, build, run every test (CTest: one Boost.Test program
# per library folder, the end-to-end tests of the command line, and the
# installed-package consumer check). The sanitizer and fuzzing checks that CI
# runs next are scripts/sanitize.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
  echo "test.sh: no arguments expected (the sanitizer build is scripts/sanitize.sh)" >&2
  exit 2
fi
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure
