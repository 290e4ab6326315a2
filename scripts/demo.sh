#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, then pretrains
# TWIST on Fashion-MNIST with the default recipe and prints what it learned.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh --target twist_cli  # the twist binary and its library, not the test suite
exec build/twist train --config configs/fashion-mnist.json "$@"
