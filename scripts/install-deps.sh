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
  clang libclang-rt-14-dev
  libopenmpi-dev openmpi-bin
  python3-dev python3-pybind11 pybind11-dev python3-numpy python3-pytest
  dataset-fashion-mnist
)
exec bash "$(dirname "$0")/apt-install.sh" install-deps "${PKGS[@]}"
