#!/usr/bin/env bash
# Installs twist into a temporary prefix, builds examples/ against it with
# find_package(twist), and runs the example: proves the package is usable.
#   tests/install_example.sh BUILD_DIR SOURCE_DIR [PREFIX_PATH: the build's own
#   CMAKE_PREFIX_PATH, where its dependencies were found]
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" > /dev/null
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S "$source_dir/examples" -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix${3:+;$3}" > /dev/null
cmake --build "$work/build" > /dev/null
"$work/build/twist_step"
