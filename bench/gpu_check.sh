#!/usr/bin/env bash
# The GPU measurements of issue 6 in one go, on a machine with an NVIDIA GPU
# and a CUDA PyTorch in python3 (no Debian packages needed): builds twist
# against that PyTorch's LibTorch, runs the CUDA tests, then benchmarks twist
# (`twist bench --device cuda`: compute-only and end to end) and the reference
# recipe in Python PyTorch (bench/gpu_peer.py: compute-only) on the same GPU,
# alternately per configuration:
#   ResNet-18, small stem, 64 channels, 32x32, two views, batch 256 (CIFAR-10 layout);
#   ResNet-50, ImageNet stem, 2x224 + 6x96, head 4096/4096, batch 128 (STL-10 layout);
# each in fp32 and bf16. The data sets are random bytes in the real files'
# layouts (made here: no data set travels), so only speed means anything.
# Finally the whole test suite, within what is left of the time budget.
#
#   bench/gpu_check.sh OUTDIR
#   env: BUDGET seconds for the whole script (480), DEPS (.gpu/deps: nlohmann_json,
#        googletest source, stb and zlib headers: bench/gpu_deps.sh makes it),
#        PEER (bench/reference_twist.py), STEPS (20), ROUNDS (3); for a dry run of the
#        script on a machine without a GPU: BUILD (a finished build folder: skip
#        the build), DEVICE (cpu), RN50_BATCH (128)
set -uo pipefail
cd "$(dirname "$0")/.."
default_budget=480
source bench/gpu_common.sh "$@"
steps=${STEPS:-20}
rounds=${ROUNDS:-3}
peer=$(realpath "${PEER:-bench/reference_twist.py}")

say "machine"
nvidia-smi -L
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'
echo "$(nproc) cores; $(g++ --version | head -1); $(cmake --version | head -1); $(nvcc --version | tail -1)"

device=${DEVICE:-cuda}
build=${BUILD:-}
if [ -z "$build" ]; then
build=build-cuda
say "build"
bash bench/gpu_build.sh "$out" || exit 1
fi

# The flags of tests/test_util.cpp's tiny_train_args, by hand: keep them alike.
say "the command line on the GPU (what CudaE2E runs)"
"$build/tests/twist_pattern_data" /tmp/pattern 256 64 &&
  "$build/twist" train --data idx:/tmp/pattern --batch-size 32 --width 0.125 --hidden 32 --classes 4 --warmup-epochs 1 \
    --epochs 5 --log-every 1 --threads 2 --knn-k 5 --device cuda --precision bf16 --out /tmp/pattern-run > "$out/cli.log" 2>&1
echo "train rc $?"; tail -4 "$out/cli.log"
"$build/twist" eval knn --run /tmp/pattern-run --json 2>&1 | tail -3; echo "eval rc $?"

say "CUDA tests"
"$build/tests/twist_tests" --gtest_filter='Cuda*:Device*' > "$out/cuda_tests.log" 2>&1
rc=$?
grep -E "^\[ *(OK|FAILED|SKIPPED|PASSED) *\]|Failure|Expected|Which is|error" "$out/cuda_tests.log" | head -40
echo "CUDA tests: rc $rc"
if [ $rc -gt 128 ]; then
  # Seen on 2026-11-26 (PyTorch 2.11 + CUDA 13 wheel, H200): CudaE2E and 44
  # CPU-only tests that write or read files in a temporary directory died
  # with SIGSEGV at address 0, while the same code paths in the twist binary
  # (train, eval, bench) and in twist_pattern_data ran. Gather what the next
  # session needs: one CPU-only test alone, the libraries loaded, and the
  # stack at the fault (the return address on top of it names the caller).
  say "CUDA tests died (signal $((rc - 128))): diagnosis"
  "$build/tests/twist_tests" --gtest_filter='Idx.RoundTripRawAndGzipped' > /dev/null 2>&1
  echo "CPU-only Idx.RoundTripRawAndGzipped alone: rc $?"
  ldd "$build/tests/twist_tests" | grep -E "gomp|stdc|libz|gtest|torch_cuda|cudart" | sort
  ldd "$build/twist" | grep -E "gomp|stdc|libz" | sort | sed 's/^/twist: /'
  if command -v cuda-gdb > /dev/null; then
    timeout 90 cuda-gdb -q -batch -ex run -ex bt -ex 'x/8a $sp' -ex 'info symbol *(void**)$sp' \
      --args "$build/tests/twist_tests" --gtest_filter='Idx.RoundTripRawAndGzipped' 2>&1 |
      grep -vE "^\[(New|Thread|Detaching)|Cuda Driver error" | tail -30
  fi
fi

rn18_twist=(--data cifar10:/tmp/cifar --arch resnet18 --width 1 --stem small --batch-size 256 --lr 0.5)
rn18_peer=(--arch resnet18 --width 1 --size 32 --batch 256)
rn50_twist=(--data stl10:/tmp/stl --arch resnet50 --width 1 --stem imagenet --image-size 224 --local-crops 6
            --local-size 96 --hidden 4096 --classes 4096 --batch-size ${RN50_BATCH:-128} --lr 0.5)
rn50_peer=(--arch resnet50 --size 224 --local-crops 6 --local-size 96 --hidden 4096 --classes 4096 --batch ${RN50_BATCH:-128})
bench_pair() {  # name, precision, twist flags..., --, peer flags...
  local name=$1 precision=$2; shift 2
  local tw=() pe=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do tw+=("$1"); shift; done
  shift; pe=("$@")
  say "$name $precision: twist"
  "$build/twist" bench --device "$device" --precision "$precision" --rounds "$rounds" --steps "$steps" --warmup 5 \
    --json "${tw[@]}" > "$out/twist.json" 2> "$out/twist.err" || tail -5 "$out/twist.err"
  tail -"$rounds" "$out/twist.err"
  say "$name $precision: python"
  PYTHONUNBUFFERED=1 "$py" bench/gpu_peer.py --peer "$peer" --device "$device" --precision "$precision" --rounds "$rounds" \
    --steps "$steps" "${pe[@]}" > "$out/peer.json" 2> "$out/peer.err" || tail -5 "$out/peer.err"
  "$py" - "$name" "$precision" "$out" <<'EOF'
import json, sys
name, prec, out = sys.argv[1:4]
def load(f):
    try: return json.load(open(f"{out}/{f}"))
    except Exception: return {}
t, p = load("twist.json"), load("peer.json")
row = dict(config=name, precision=prec, twist_compute=t.get("compute_images_per_s"),
           twist_end_to_end=t.get("end_to_end_images_per_s"), twist_fraction=t.get("end_to_end_fraction"),
           twist_compute_rounds=t.get("compute_rounds"), twist_e2e_rounds=t.get("end_to_end_rounds"),
           peer_compute=p.get("compute_images_per_s"), peer_rounds=p.get("compute_images_per_s_rounds"),
           peer_peak_gpu_mb=p.get("peak_gpu_mb"), peer_parameters=p.get("parameters"), torch=p.get("torch"), device=p.get("device"))
if row["twist_compute"] and row["peer_compute"]:
    row["compute_ratio"] = row["twist_compute"] / row["peer_compute"]
    row["end_to_end_vs_peer_compute"] = row["twist_end_to_end"] / row["peer_compute"]
print(json.dumps(row))
open(f"{out}/bench.jsonl", "a").write(json.dumps(row) + "\n")
EOF
}
if [ "${BENCH:-1}" = 1 ]; then
say "data (random bytes in the CIFAR-10 and STL-10 layouts)"
"$py" - <<'EOF'
import numpy as np, os
r = np.random.default_rng(0)
os.makedirs("/tmp/cifar", exist_ok=True); os.makedirs("/tmp/stl", exist_ok=True)
for n in ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]:
    rec = r.integers(0, 256, (2000, 3073), dtype=np.uint8); rec[:, 0] %= 10
    rec.tofile("/tmp/cifar/" + n)
for split, n in [("train", 5000), ("test", 1000)]:
    r.integers(0, 256, (n, 3 * 96 * 96), dtype=np.uint8).tofile("/tmp/stl/%s_X.bin" % split)
    (r.integers(0, 10, n, dtype=np.uint8) + 1).tofile("/tmp/stl/%s_y.bin" % split)
r.integers(0, 256, (100, 3 * 96 * 96), dtype=np.uint8).tofile("/tmp/stl/unlabeled_X.bin")
EOF

bench_pair rn18-32px fp32 "${rn18_twist[@]}" -- "${rn18_peer[@]}"
bench_pair rn18-32px bf16 "${rn18_twist[@]}" -- "${rn18_peer[@]}"
bench_pair rn50-224+6x96 fp32 "${rn50_twist[@]}" -- "${rn50_peer[@]}"
bench_pair rn50-224+6x96 bf16 "${rn50_twist[@]}" -- "${rn50_peer[@]}"
fi

say "whole test suite with $(($(left) - 15)) s left"
if [ "$(left)" -gt 60 ]; then
  timeout $(($(left) - 15)) ctest --test-dir "$build" --parallel 8 --timeout 300 > "$out/ctest.log" 2>&1
  echo "ctest rc $?"; grep -E "tests passed|tests failed|\*\*\*Failed|\*\*\*Exception|Not Run|Timeout" "$out/ctest.log" | head -30
fi
say "done"
