#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# Two tests at once on a machine with as many cores: LibTorch's OpenMP
# threads must sleep, not spin, while they wait (docs/reliability.md, "CI time").
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 1200
