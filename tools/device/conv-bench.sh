#!/usr/bin/env bash
# The tensor-core convolution on the GPU machine, in one call: its kernel tests (the f16 tensor-core
# suites skip on CPU-only machines) and the SDXL UNet conv benchmark (SIMT vs tensor cores vs PyTorch
# cuDNN in the same process tree, bench/conv.ts). About 2-3 minutes. Built and packed here first:
#   npm run build && bash ../shared/gpu/pack.sh
# then on the device, from the project root with .gpu carried:
#   source .gpu/setup.sh && bash tools/device/conv-bench.sh [--quick] [--no-tests] [--no-bench]
# Logs and the JSON go to $OUT (or ./out): conv-tests.log, conv-bench.log, conv-bench.json, summary.txt.
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
tests=1 bench=1 quick=()
for a in "$@"; do
  case "$a" in
    --no-tests) tests=0 ;;
    --no-bench) bench=0 ;;
    --quick) quick=(--quick) ;;
    *) echo "unknown option $a"; exit 2 ;;
  esac
done
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader | tee "$out/gpu.txt"
date -u +%FT%TZ | tee -a "$out/gpu.txt"
status=0
if [ $tests = 1 ]; then
  # conv2d.test (SIMT, f32 and f16) and conv2d_sgm.test (emulated multiply, tensor cores in f16)
  TOMA_REQUIRE_GPU=1 timeout 300 node tools/run-tests.mjs kernels/conv2d 2>&1 | tee "$out/conv-tests.log" |
    grep -E '^(✔|✖|﹣)|^ +(✖|﹣)|^ℹ (tests|pass|fail|skipped)|relative error|Error'
  s=${PIPESTATUS[0]}
  echo "== conv tests: exit $s" | tee -a "$out/summary.txt"
  [ "$s" = 0 ] || status=1
fi
if [ $bench = 1 ]; then
  PYTHONUNBUFFERED=1 timeout 400 node dist/bench/conv.js --torch bench/torch_kernels.py "${quick[@]}" \
    --json "$out/conv-bench.json" 2>&1 | tee "$out/conv-bench.log"
  s=${PIPESTATUS[0]}
  echo "== conv bench: exit $s" | tee -a "$out/summary.txt"
  [ "$s" = 0 ] || status=1
fi
exit $status
