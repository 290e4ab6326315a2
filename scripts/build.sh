#!/usr/bin/env bash
# Configures and builds twist (Release, Ninja where present) into build/.
#   scripts/build.sh                      everything (library, twist, tests, benchmarks)
#   scripts/build.sh --target twist_cli   only what the target needs (the demo builds the twist binary only)
#   scripts/build.sh -DTWIST_WITH_DIST=OFF   CMake arguments; given to an existing build/ too
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target)
      [ $# -ge 2 ] || { echo "scripts/build.sh: --target needs a target name" >&2; exit 2; }
      targets+=(--target "$2")
      shift 2 ;;
    *) cmake_args+=("$1"); shift ;;
  esac
done
generator=()
if [ ! -f build/CMakeCache.txt ]; then
  if command -v ninja >/dev/null; then generator=(-G Ninja); fi
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}"
elif [ ${#cmake_args[@]} -gt 0 ]; then
  cmake -S . -B build "${cmake_args[@]}"
fi
cmake --build build --parallel "$(nproc)" "${targets[@]}"
