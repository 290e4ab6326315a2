#!/usr/bin/env bash
# Kill-and-resume check: runs a short training run to the end once, then the
# same run again but SIGKILLed at KILLS random moments, each time continued
# with `twist train --resume` (or started afresh while no checkpoint exists
# yet), and finally run to the end. Every loss that the interrupted run logged
# (metrics.jsonl, one line per step, re-run steps included) must equal the
# uninterrupted run's loss at that step, and so must the final loss.
#   scripts/kill_resume.sh BUILD_DIR [KILLS=20] [SEED=1] [STEPS=120]
# Prints one line per kill and ends with "kill_resume: PASS" or exits 1.
set -euo pipefail
build=$(cd "$1" && pwd)
kills=${2:-20}
seed=${3:-1}
steps=${4:-120}
twist=$build/twist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/tests/twist_pattern_data" "$work/data" 256 64

flags=(--data "idx:$work/data" --batch-size 32 --width 0.125 --hidden 32 --classes 4 --epochs 100
       --max-steps "$steps" --warmup-epochs 1 --log-every 1 --threads 1 --eval false
       --checkpoint-every 5 --seed 0)

t0=$(date +%s%N)
"$twist" train "${flags[@]}" --out "$work/ref" 2> "$work/ref.log" > /dev/null
ref_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "kill_resume: uninterrupted run: $steps steps in ${ref_ms} ms"

# Kill moments: uniform in [0, 2*T/KILLS + 1000] ms after each start, T the
# uninterrupted run's time, so kills land during start-up, during steps and
# during checkpoint writes, and the run still advances between kills.
RANDOM=$seed
max_ms=$(( 2 * ref_ms / kills + 1000 ))
run=$work/run
# Run in a subshell: exec makes $! the twist process itself, which SIGKILL must hit.
start_run() {
  if [ -f "$run/checkpoint.pt" ]; then
    exec "$twist" train --resume --out "$run"
  else
    rm -rf "$run"
    exec "$twist" train "${flags[@]}" --out "$run"
  fi
}
resumes=0
for k in $(seq 1 "$kills"); do
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % max_ms ))
  (start_run) > /dev/null 2> "$work/log.$k" &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -KILL "$pid" 2> /dev/null; then how=killed; else how=finished; fi
  wait "$pid" 2> /dev/null && status=0 || status=$?
  resumed_at=$(sed -n 's/^twist: resuming at step \([0-9]*\)$/\1/p' "$work/log.$k")
  [ -n "$resumed_at" ] && resumes=$((resumes + 1))
  if grep -q "error" "$work/log.$k"; then
    echo "kill_resume: FAIL: invocation $k reported an error:"; cat "$work/log.$k"; exit 1
  fi
  logged=$(cat "$run/metrics.jsonl" 2> /dev/null | grep -c . || true)
  leftover=$([ -e "$run/checkpoint.pt.tmp" ] && echo ", checkpoint.pt.tmp left behind" || true)
  echo "kill_resume: kill $k after ${delay_ms} ms ($how, exit $status): started at step ${resumed_at:-0}," \
       "metrics lines $logged$leftover"
  [ "$how" = finished ] && break
done

if [ ! -f "$run/summary.json" ]; then
  (start_run) > /dev/null 2> "$work/log.final"
  resumed_at=$(sed -n 's/^twist: resuming at step \([0-9]*\)$/\1/p' "$work/log.final")
  echo "kill_resume: final invocation resumed at step ${resumed_at:-0} and finished"
fi

# Compare every logged loss with the reference (awk: no JSON tool needed;
# nlohmann::json writes "loss":X and "step":N).
extract() { sed -n 's/.*"loss":\([^,}]*\).*"step":\([0-9]*\).*/\2 \1/p' "$1"; }
extract "$work/ref/metrics.jsonl" > "$work/ref.txt"
extract "$run/metrics.jsonl" > "$work/run.txt"
awk -v steps="$steps" '
  NR == FNR { ref[$1] = $2; next }
  {
    n++
    if (!($1 in ref)) { print "kill_resume: FAIL: step " $1 " not in the reference"; bad = 1; next }
    d = $2 - ref[$1]; if (d < 0) d = -d
    r = d / (ref[$1] < 0 ? -ref[$1] : ref[$1])
    if (r > worst) worst = r
    if ($1 == steps) final = $2
  }
  END {
    printf "kill_resume: %d logged losses compared, largest relative difference %.3g\n", n, worst
    printf "kill_resume: final loss (step %d): interrupted %s, uninterrupted %s\n", steps, final, ref[steps]
    if (bad || final == "" || worst > 1e-5) { print "kill_resume: FAIL"; exit 1 }
  }' "$work/ref.txt" "$work/run.txt"
echo "kill_resume: $resumes of the killed invocations resumed from a checkpoint"
echo "kill_resume: PASS"
