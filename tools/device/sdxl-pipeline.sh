#!/usr/bin/env bash
# One GPU call (issue 17): the SDXL pipeline at full size on the H100. The SDXL scheduler, pipeline, CLI
# and API tests on the real adapter, then random-weight SDXL base 1.0 folders (diffusers and single-file
# layouts, ~6.9 GB of f16 each, written to /tmp) through `toma generate` at 1024² in f16: Euler 30 steps
# dense and ToMA 0.5 on the same noise with TAESDXL previews, Euler-ancestral with a negative prompt, and the single-file release; each run
# prints every stage's time and peak device memory (target: the largest stage <= 10 GiB). Logs to $OUT;
# --quick skips the tests and the single-file run.
#   source .gpu/setup.sh && bash tools/device/sdxl-pipeline.sh [--quick]
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
quick=0
if [[ "${1:-}" == --quick ]]; then quick=1; shift; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): unknown argument \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee -a "$out/sdxl-pipeline.log") 2>&1
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# toma SECONDS ARGS...: the CLI under a time limit (timeout cannot run a shell function)
toma() { timeout "$1" node dist/src/cli/main.js "${@:2}" 2>&1 | grep -v '^Warning\|While\|at Init'; }

if [[ $quick == 0 ]]; then
  stamp "SDXL tests on the H100 (schedulers, pipeline, CLI, API)"
  timeout 300 node tools/run-tests.mjs schedulers/euler pipeline/sdxl cli/generate-sdxl api/sdxl 2>&1 |
    grep -E 'ℹ (tests|pass|fail|skipped)|✖|error:' | head -30
fi

stamp "random-weight SDXL base 1.0, diffusers layout"
timeout 240 node tools/make-random-sdxl-folder.mjs --preset sdxl-base --out /tmp/sdxl-base --threads 12 --force | tail -2

stamp "1024², f16, Euler 30 steps, dense and ToMA 0.5 on the same noise, TAESDXL previews every 5 steps"
toma 300 generate --model-dir /tmp/sdxl-base --prompt "a red fox in the snow" --size 1024 --steps 30 \
  --method toma --ratio 0.5 --compare \
  --preview "$out/preview.png" --preview-every 5 --out "$out" --overwrite

stamp "1024², f16, Euler ancestral 20 steps, negative prompt, TAESDXL final decode"
toma 240 generate --model-dir /tmp/sdxl-base --prompt "a red fox in the snow" --negative-prompt "blurry" \
  --scheduler euler-a --size 1024 --steps 20 --decoder taesdxl --out "$out/euler-a" --overwrite

if [[ $quick == 0 ]]; then
  rm -rf /tmp/sdxl-base
  stamp "random-weight SDXL base 1.0, single-file layout"
  timeout 240 node tools/make-random-sdxl-folder.mjs --preset sdxl-base --layout single-file --out /tmp/sdxl-single \
    --threads 12 --force | tail -2
  stamp "single file, 1024², f16, 4 steps"
  toma 200 generate --checkpoint /tmp/sdxl-single/sd_xl_base_1.0.safetensors --prompt "a red fox in the snow" \
    --size 1024 --steps 4 --out "$out/single-file" --overwrite
fi
stamp "done"
