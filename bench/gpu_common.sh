# Sourced by bench/gpu_check.sh and bench/gpu_learn.sh (from the repository's
# root, with the script's arguments and default_budget set): the output
# folder, the time budget and its clock, and the tools' paths.
out=${1:?usage: $0 OUTDIR}
mkdir -p "$out"
t0=$(date +%s)
budget=${BUDGET:-$default_budget}
left() { echo $((budget - ($(date +%s) - t0))); }
say() { echo "== +$(($(date +%s) - t0))s $*"; }
export PATH=/usr/local/cuda/bin:$PATH
py=${PYTHON:-python3}
