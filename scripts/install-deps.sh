#!/usr/bin/env bash
# Installs every build/test dependency of eoslab from Debian 12 packages.
# Run as root (or with sudo available) on a fresh machine; idempotent.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config xtl-dev
  libxtensor-dev libxtensor-blas-dev libxsimd-dev
  libopenblas-dev liblapack-dev
  libboost-test-dev libfmt-dev zlib1g-dev libbenchmark-dev nlohmann-json3-dev
  libcli11-dev gnuplot-nox
  dataset-fashion-mnist
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
