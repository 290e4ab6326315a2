#!/usr/bin/env bash
# Fills .gpu/ (ignored by git: add "/.gpu/" to .git/info/exclude) with what
# bench/gpu_check.sh needs on a GPU machine that has PyTorch but none of
# Debian's packages: nlohmann_json (headers and CMake package), stb's headers,
# zlib's headers, googletest's source and Fashion-MNIST's four files (for
# bench/gpu_learn.sh; the reference recipe,
# bench/reference_twist.py, travels with the working tree). Run it here, on
# the Debian machine with the project's packages installed, then carry .gpu
# to the GPU machine (the device tool: carry [".gpu"]).
#   bench/gpu_deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for p in /usr/share/datasets/fashion-mnist /usr/include/nlohmann /usr/share/cmake/nlohmann_json /usr/include/stb /usr/include/zlib.h /usr/src/googletest; do
  [ -e "$p" ] || { echo "gpu_deps: $p is missing (apt install nlohmann-json3-dev libstb-dev zlib1g-dev googletest dataset-fashion-mnist)" >&2; exit 1; }
done
rm -rf .gpu
d=.gpu/deps
mkdir -p $d/nlohmann/include $d/nlohmann/share/cmake $d/stb/include $d/zlib/include
cp -r /usr/include/nlohmann $d/nlohmann/include/
cp -r /usr/share/cmake/nlohmann_json $d/nlohmann/share/cmake/
cp -r /usr/include/stb $d/stb/include/
cp /usr/include/zlib.h /usr/include/zconf.h $d/zlib/include/
cp -r /usr/src/googletest $d/googletest
mkdir -p .gpu/fashion-mnist
cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .gpu/fashion-mnist/
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
echo "gpu_deps: $(du -sh .gpu | cut -f1) in .gpu"
