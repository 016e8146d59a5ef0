#!/usr/bin/env bash
# What bench/compare_torch.py and the profile in docs/PERFORMANCE.md need
# beyond the build: Debian's PyTorch and SciPy (for /usr/bin/python3) and perf.
# Benchmarks and check scripts only: the library never depends on them.
set -euo pipefail
PKGS=(python3-torch python3-scipy python3-numpy linux-perf)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-bench-deps: all ${#PKGS[@]} packages already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-bench-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
