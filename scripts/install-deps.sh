#!/usr/bin/env bash
# Installs every Debian package twist needs to build, test and train.
# OpenBLAS matters: without it Debian's LibTorch falls back to the reference
# BLAS and the projection head runs ~40x slower (README, "Two commands").
set -euo pipefail
packages=(
  build-essential cmake ninja-build
  libtorch-dev libopenblas0-openmp
  libgloo-dev            # the c10d headers that libtorch-dev ships include it
  zlib1g-dev             # gzipped IDX files
  libcli11-dev nlohmann-json3-dev
  libstb-dev             # PNG and BMP decoding (header-only stb_image)
  libturbojpeg0-dev      # JPEG decoding (libjpeg-turbo)
  libjpeg62-turbo-dev    # decoding only a crop's rows and columns of a JPEG (libjpeg's API)
  libgtest-dev
  python3-numpy python3-torchvision  # tests cross-check .npy and the torchvision export in Python
  dataset-fashion-mnist  # the default data set
)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
