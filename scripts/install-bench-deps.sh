#!/usr/bin/env bash
# What bench/compare_torch.py and the profile in docs/PERFORMANCE.md need
# beyond the build: Debian's PyTorch and SciPy (for /usr/bin/python3) and perf.
# Benchmarks and check scripts only: the library never depends on them.
set -euo pipefail
PKGS=(python3-torch python3-scipy python3-numpy linux-perf)
exec bash "$(dirname "$0")/apt-install.sh" install-bench-deps "${PKGS[@]}"
