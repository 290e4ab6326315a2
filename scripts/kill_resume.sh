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

lines() { cat "$1/metrics.jsonl" 2> /dev/null | grep -c . || true; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# Waits until DIR/metrics.jsonl holds more than N lines or process PID ended.
wait_for_step() {
  while [ "$(lines "$1")" -le "$2" ] && kill -0 "$3" 2> /dev/null; do sleep 0.02; done
}

t0=$(now_ms)
"$twist" train "${flags[@]}" --out "$work/ref" 2> "$work/ref.log" > /dev/null &
pid=$!
wait_for_step "$work/ref" 0 "$pid"
t1=$(now_ms)
wait "$pid"
t2=$(now_ms)
train_ms=$((t2 - t1))
echo "kill_resume: uninterrupted run: $steps steps in $((t2 - t0)) ms ($((t1 - t0)) ms to the first step)"

# Each invocation is killed at a moment uniform in [0, 2*T/KILLS] after its
# first step, T the uninterrupted run's time from its first step to its end:
# kills land during steps, metrics writes and checkpoint writes, and the run
# advances between kills. Kills during start-up are not aimed at here; the
# SIGTERM and bad-checkpoint tests cover what start-up can meet.
RANDOM=$seed
max_ms=$(( 2 * train_ms / kills + 1 ))
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
  before=$(lines "$run")
  [ -f "$run/checkpoint.pt" ] || before=0
  (start_run) > /dev/null 2> "$work/log.$k" &
  pid=$!
  wait_for_step "$run" "$before" "$pid"
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -KILL "$pid" 2> /dev/null; then how=killed; else how=finished; fi
  wait "$pid" 2> /dev/null && status=0 || status=$?
  resumed_at=$(sed -n 's/^twist: resuming at step \([0-9]*\)$/\1/p' "$work/log.$k")
  if [ -n "$resumed_at" ]; then
    resumes=$((resumes + 1)); from="resumed at step $resumed_at"
  else
    from="started afresh"
  fi
  if grep -q "error" "$work/log.$k"; then
    echo "kill_resume: FAIL: invocation $k reported an error:"; cat "$work/log.$k"; exit 1
  fi
  leftover=$([ -e "$run/checkpoint.pt.tmp" ] && echo ", checkpoint.pt.tmp left behind" || true)
  echo "kill_resume: kill $k ${delay_ms} ms after the first step ($how, exit $status): $from," \
       "metrics lines $(lines "$run")$leftover"
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
echo "kill_resume: $resumes invocations resumed from a checkpoint"
echo "kill_resume: PASS"
