#!/usr/bin/env bash
# The main job: install dependencies, build, and reproduce the edge of
# stability on Fashion-MNIST (`eoslab reproduce eos --quick`, a few minutes on
# 2 cores). Report, claims and figures land in results/eos/.
# Arguments replace the default preset and flags, e.g.
#   bash scripts/reproduce.sh all --quick
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
if [ $# -eq 0 ]; then set -- eos --quick; fi
./build/apps/eoslab reproduce "$@" --out results
