#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, then pretrains
# TWIST on Fashion-MNIST with the default recipe and prints what it learned.
# The whole command keeps to TWIST_DEMO_MINUTES (15): the training gets what
# installing and building left of it, less TWIST_DEMO_AFTER_S seconds for the
# set-up and evaluation around it (--budget-minutes: where the recipe's
# epochs fit, nothing is cut). A --budget-minutes among the arguments wins.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${TWIST_DEMO_MINUTES:-15}"
after="${TWIST_DEMO_AFTER_S:-120}"
for v in "$minutes" "$after"; do
  [[ "$v" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "scripts/demo.sh: TWIST_DEMO_MINUTES and TWIST_DEMO_AFTER_S take a number of minutes and seconds, got '$v'" >&2; exit 2; }
done
scripts/install-deps.sh
scripts/build.sh --target twist_cli  # the twist binary and its library, not the test suite
budget=()
case " $* " in
  *" --budget-minutes"*) ;;
  *)
    # At least one minute, even where the build took the whole allowance.
    budget=(--budget-minutes "$(awk -v m="$minutes" -v spent="$SECONDS" -v after="$after" \
      'BEGIN { b = (m * 60 - spent - after) / 60; printf "%.2f", b < 1 ? 1 : b }')")
    echo "scripts/demo.sh: ${SECONDS} s spent installing and building; training gets ${budget[1]} of the ${minutes} minutes (--budget-minutes)" >&2
    ;;
esac
exec build/twist train --config configs/fashion-mnist.json "${budget[@]}" "$@"
