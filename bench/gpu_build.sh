#!/usr/bin/env bash
# Builds twist for CUDA in build-cuda/ on a machine with an NVIDIA GPU and a
# CUDA PyTorch in python3 but none of Debian's packages: LibTorch from that
# PyTorch; googletest, nlohmann_json, stb and zlib's headers from DEPS, which
# bench/gpu_deps.sh fills on the Debian machine. Used by bench/gpu_check.sh
# and bench/gpu_learn.sh.
#   bench/gpu_build.sh LOGDIR [TARGET...]   (default targets: twist_cli twist_tests twist_pattern_data)
#   env: DEPS (.gpu/deps), PYTHON (python3), TWIST_WITH_DIST (OFF)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/gpu_build.sh LOGDIR [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(twist_cli twist_tests twist_pattern_data)
mkdir -p "$out"
deps=$(realpath "${DEPS:-.gpu/deps}")
py=${PYTHON:-python3}
export PATH=/usr/local/cuda/bin:$PATH

if [ ! -f /tmp/gtest/lib/cmake/GTest/GTestConfig.cmake ] && [ ! -f /tmp/gtest/lib64/cmake/GTest/GTestConfig.cmake ]; then
  cmake -S "$deps/googletest" -B /tmp/gtest-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_GMOCK=OFF \
    -DCMAKE_INSTALL_PREFIX=/tmp/gtest > /tmp/gtest.log 2>&1 && cmake --build /tmp/gtest-build >> /tmp/gtest.log 2>&1 &&
    cmake --install /tmp/gtest-build >> /tmp/gtest.log 2>&1 || { tail -30 /tmp/gtest.log; exit 1; }
fi

torch_prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
extra=()
if [ ! -f /usr/include/zlib.h ]; then
  extra+=("-DZLIB_INCLUDE_DIR=$deps/zlib/include" "-DZLIB_LIBRARY=$(ldconfig -p | awk '/libz\.so\.1 /{print $NF; exit}')")
fi
# --no-as-needed: keep libtorch_cuda linked though twist calls none of its
# symbols directly (else LibTorch may report no CUDA at run time).
configure() {
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$torch_prefix;/tmp/gtest;$deps/nlohmann" -DSTB_INCLUDE_DIR="$deps/stb/include" \
    -DTORCH_CUDA_ARCH_LIST=9.0 -DTWIST_WITH_DIST="${TWIST_WITH_DIST:-OFF}" \
    -DCMAKE_EXE_LINKER_FLAGS=-Wl,--no-as-needed "${extra[@]}" "$@" > "$out/configure.log" 2>&1 ||
    { tail -40 "$out/configure.log"; exit 1; }
  grep -iE "cuda|torch|warn" "$out/configure.log" | head -20
}
build() { ninja -C build-cuda -k 0 "${targets[@]}" > "$out/build.log" 2>&1; }
configure
if ! build; then
  if grep -q "C++20 or later" "$out/build.log"; then
    echo "these headers need C++20: again with -DCMAKE_CXX_STANDARD=20"
    rm -rf build-cuda
    configure -DCMAKE_CXX_STANDARD=20
    build || { grep -B2 -A6 "error" "$out/build.log" | head -150; exit 1; }
  else
    grep -B2 -A6 "error" "$out/build.log" | head -150; exit 1
  fi
fi
tail -2 "$out/build.log"
