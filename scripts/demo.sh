#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, then pretrains
# TWIST on Fashion-MNIST with the default recipe and prints what it learned.
# The whole command keeps to TWIST_DEMO_MINUTES (15): twist train gets what
# installing and building left of it as --budget-minutes with --budget-covers
# all, so that it ends its training early enough for the set-up, evaluation
# and report, which it times on the user's own data (where the recipe's
# epochs fit, nothing is cut). A --budget-minutes among the arguments wins.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${TWIST_DEMO_MINUTES:-15}"
[[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "scripts/demo.sh: TWIST_DEMO_MINUTES takes a number of minutes, got '$minutes'" >&2; exit 2; }
# Their output goes to stderr: stdout is twist's alone (--json gives one JSON object).
scripts/install-deps.sh >&2
scripts/build.sh --target twist_cli >&2  # the twist binary and its library, not the test suite
budget=()
case " $* " in
  *" --budget-minutes"*) ;;
  *)
    # At least one minute, even where the build took the whole allowance.
    budget=(--budget-minutes "$(awk -v m="$minutes" -v spent="$SECONDS" \
      'BEGIN { b = (m * 60 - spent) / 60; printf "%.2f", b < 1 ? 1 : b }')" --budget-covers all)
    echo "scripts/demo.sh: ${SECONDS} s spent installing and building; twist train gets ${budget[1]} of the ${minutes} minutes (--budget-minutes, --budget-covers all)" >&2
    ;;
esac
exec build/twist train --config configs/fashion-mnist.json "${budget[@]}" "$@"
