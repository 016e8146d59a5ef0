#!/usr/bin/env bash
# The main job: install dependencies, build, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/apps/eoslab_demo
