#!/usr/bin/env bash
# Tile choice for the tensor-core matmul and convolution on the SDXL UNet's small-M shapes, in one call
# (about 1.5-2 minutes): the matmul_sgm and conv2d_sgm tests (tile rule, every candidate tile, the default path on small-M
# shapes; they skip without subgroup matrices), bench/unet-matmul.ts (every UNet matmul shape, dense and
# ToMA-merged, over 11 tile configurations and PyTorch F.linear; per-shape winners, UNet totals for the
# default, the rule sgmMatmulConfigFor, the best per shape and PyTorch), and bench/conv.ts on the 32²
# convolutions with the small tiles added to the sweep. Built and packed here first:
#   npm run build && bash ../shared/gpu/pack.sh
# then on the device, from the project root with .gpu carried:
#   source .gpu/setup.sh && bash tools/device/unet-tiles.sh [--no-tests] [--no-conv]
# --smoke runs the same steps on a software adapter (tiny shapes, tensor-core variants skipped), to
# check the script itself without a GPU.
# Logs and JSON go to $OUT (or ./out): unet-tiles-tests.log, unet-matmul.log/.json, unet-conv32.log/.json.
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
tests=1 conv=1 smoke=0
for a in "$@"; do
  case "$a" in
    --no-tests) tests=0 ;;
    --no-conv) conv=0 ;;
    --smoke) smoke=1 ;;
    *) echo "unknown option $a"; exit 2 ;;
  esac
done
if [ $smoke = 1 ]; then
  require=() mm=(--smoke) cv=(--smoke)
else
  require=(TOMA_REQUIRE_GPU=1) mm=(--torch bench/torch_kernels.py) cv=(--torch bench/torch_kernels.py --only @32)
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader | tee "$out/gpu.txt"
fi
date -u +%FT%TZ | tee -a "$out/gpu.txt"
status=0
if [ $tests = 1 ]; then
  env "${require[@]}" timeout 150 node tools/run-tests.mjs kernels/matmul_sgm kernels/conv2d_sgm 2>&1 | tee "$out/unet-tiles-tests.log" |
    grep -E '^(✔|✖|﹣)|^ +(✖|﹣)|^ℹ (tests|pass|fail|skipped)|relative error|Error'
  s=${PIPESTATUS[0]}
  echo "== matmul_sgm + conv2d_sgm tests: exit $s" | tee -a "$out/summary.txt"
  [ "$s" = 0 ] || status=1
fi
PYTHONUNBUFFERED=1 timeout 240 node dist/bench/unet-matmul.js "${mm[@]}" --json "$out/unet-matmul.json" 2>&1 | tee "$out/unet-matmul.log"
s=${PIPESTATUS[0]}
echo "== unet matmul bench: exit $s" | tee -a "$out/summary.txt"
[ "$s" = 0 ] || status=1
if [ $conv = 1 ]; then
  PYTHONUNBUFFERED=1 timeout 200 node dist/bench/conv.js "${cv[@]}" --small-tiles --no-robust \
    --json "$out/unet-conv32.json" 2>&1 | tee "$out/unet-conv32.log"
  s=${PIPESTATUS[0]}
  echo "== conv bench @32: exit $s" | tee -a "$out/summary.txt"
  [ "$s" = 0 ] || status=1
fi
exit $status
