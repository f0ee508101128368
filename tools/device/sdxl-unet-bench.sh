#!/usr/bin/env bash
# The SDXL UNet on the GPU machine, in one call: its GPU tests (f16 included, which SwiftShader lacks)
# and the forward benchmark at 1024² batch 2 in f16 with per-kernel GPU timings (bench/sdxl-unet.ts),
# plus 512² and an f32 run for reference. About 3-4 minutes. Built and packed here first:
#   npm run build && bash ../shared/gpu/pack.sh
# then on the device, from the project root with .gpu carried:
#   source .gpu/setup.sh && bash tools/device/sdxl-unet-bench.sh [--no-tests] [--quick]
# Logs and JSON go to $OUT (or ./out): sdxl-unet-tests.log, sdxl-unet-bench.log, sdxl-unet*.json.
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
tests=1 quick=0
for a in "$@"; do
  case "$a" in
    --no-tests) tests=0 ;;
    --quick) quick=1 ;;
    *) echo "unknown option $a"; exit 2 ;;
  esac
done
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader | tee "$out/gpu.txt"
date -u +%FT%TZ | tee -a "$out/gpu.txt"
status=0
if [ $tests = 1 ]; then
  TOMA_REQUIRE_GPU=1 timeout 300 node tools/run-tests.mjs models/unet cli/sdxl-unet kernels/geglu 2>&1 |
    tee "$out/sdxl-unet-tests.log" | grep -E '^(✔|✖|﹣)|^ +(✖|﹣)|^ℹ (tests|pass|fail|skipped)|relative error|Error'
  s=${PIPESTATUS[0]}
  echo "== sdxl unet tests: exit $s" | tee -a "$out/summary.txt"
  [ "$s" = 0 ] || status=1
fi
{
  timeout 300 node dist/bench/sdxl-unet.js --res 1024 --batch 2 --dtype f16 --json "$out/sdxl-unet.json"
  s=$?
  if [ $quick = 0 ]; then
    timeout 200 node dist/bench/sdxl-unet.js --res 512 --batch 2 --dtype f16 --runs 5 --json "$out/sdxl-unet-512.json"
    timeout 200 node dist/bench/sdxl-unet.js --res 1024 --batch 2 --dtype f32 --runs 3 --json "$out/sdxl-unet-f32.json"
  fi
  exit $s
} 2>&1 | tee "$out/sdxl-unet-bench.log"
s=${PIPESTATUS[0]}
echo "== sdxl unet bench: exit $s" | tee -a "$out/summary.txt"
[ "$s" = 0 ] || status=1
exit $status
