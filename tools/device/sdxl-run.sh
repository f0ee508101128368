#!/usr/bin/env bash
# One GPU call for issue 17 (SDXL, 2026-12-06): the tensor-core convolution's kernel tests and conv
# benchmark (tools/device/conv-bench.sh), the SDXL kernel and model tests that need a real GPU, our SDXL
# UNet dense and with ToMA / ToMeSD / ToDo (bench/sdxl-unet.ts) and, in the same call, diffusers'
# own components in PyTorch eager and torch.compile (bench/sdxl_torch.py; diffusers from the source tree
# carried in .tools/diffusers-src.tar.xz, never committed). Logs and JSON to $OUT.
# Then the pipeline at 1024² from a random-weight folder (tools/device/sdxl-pipeline.sh --quick) and the
# matmul tile sweep on the UNet's shapes (tools/device/unet-tiles.sh, where present).
#   source .gpu/setup.sh && bash tools/device/sdxl-run.sh [--no-conv] [--no-torch] [--no-ours] [--no-tests]
#     [--no-pipeline] [--no-tiles] [--separate]   (--separate: each UNet method in its own process)
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
conv=1 torch=1 ours=1 tests=1 pipeline=1 tiles=1 separate=0
for a in "$@"; do
  case "$a" in
    --no-conv) conv=0 ;;
    --no-torch) torch=0 ;;
    --no-ours) ours=0 ;;
    --no-tests) tests=0 ;;
    --no-pipeline) pipeline=0 ;;
    --no-tiles) tiles=0 ;;
    --separate) separate=1 ;;
    *) echo "$(basename "$0"): unknown option $a (--help for usage)" >&2; exit 2 ;;
  esac
done
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee -a "$out/sdxl-run.log") 2>&1
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

if [[ $conv == 1 ]]; then
  stamp "conv2d: kernel tests and SDXL conv shapes (ours SIMT / tensor cores vs cuDNN)"
  if [[ $tests == 1 ]]; then bash tools/device/conv-bench.sh; else bash tools/device/conv-bench.sh --no-tests; fi
fi
if [[ $tests == 1 ]]; then
  stamp "SDXL model and kernel tests on the H100 (f16 and tensor-core variants included)"
  TOMA_REQUIRE_GPU=1 timeout 300 node tools/run-tests.mjs models/unet sdxl geglu merge/unet kernels/conv2d_sgm kernels/elementwise 2>&1 |
    grep -E '^ℹ (tests|pass|fail|skipped)|✖|Error' | head -40
fi
if [[ $torch == 1 ]]; then
  stamp "PyTorch: diffusers SDXL UNet eager + torch.compile, VAE decode, text encoders (fp16)"
  mkdir -p /tmp/diffusers && tar -C /tmp/diffusers -xJf .tools/diffusers-src.tar.xz
  PYTHONPATH=/tmp/diffusers PYTHONUNBUFFERED=1 timeout 300 python3 bench/sdxl_torch.py --res 1024 --runs 10 \
    --compile --json "$out/sdxl-torch.json" 2>&1 | grep -vE 'Warning|warn\(|kept in float32'
fi
if [[ $ours == 1 ]]; then
  torch_json=()
  [[ -f "$out/sdxl-torch.json" ]] && torch_json=(--torch-json "$out/sdxl-torch.json")
  if [[ $separate == 1 ]]; then
    # each method in its own process: no method inherits another's buffer pool (interleaved runs showed
    # dense bimodal, 116 vs 132-173 ms, after the smaller methods' rounds)
    for m in dense toma:0.5 toma:0.75 tomesd:0.5 todo; do
      stamp "ours: SDXL UNet 1024² batch 2, $m alone"
      timeout 120 node dist/bench/sdxl-unet.js --res 1024 --batch 2 --dtype f16 --runs 10 --warmup 3 --no-profile \
        "${torch_json[@]}" --method "$m" --json "$out/sdxl-unet-${m//[:.]/_}.json" 2>&1 |
        grep -vE '^Warning|While initializing|at Initialize'
    done
  else
    stamp "ours: SDXL UNet 1024² batch 2, dense and with the UNet reducers, beside PyTorch's numbers above"
    timeout 300 node dist/bench/sdxl-unet.js --res 1024 --batch 2 --dtype f16 --runs 10 "${torch_json[@]}" \
      --method dense,toma:0.5,toma:0.5@scope=self-attention,toma:0.75,tomesd:0.5,todo \
      --json "$out/sdxl-unet-methods.json" 2>&1 | grep -vE '^Warning|While initializing|at Initialize'
  fi
fi
if [[ $pipeline == 1 ]]; then
  stamp "the SDXL pipeline at 1024² from a random-weight folder (stage times, peak memory)"
  bash tools/device/sdxl-pipeline.sh --quick
fi
if [[ $tiles == 1 && -f tools/device/unet-tiles.sh ]]; then
  stamp "matmul tiles on the UNet's shapes"
  bash tools/device/unet-tiles.sh
fi
stamp "done"
