#!/usr/bin/env bash
# One GPU call (issue 17, item 4): `toma eval` on SDXL at full size on the H100. The SDXL eval tests on the
# real adapter, then a random-weight SDXL base 1.0 folder (diffusers layout, ~6.9 GB f16, in /tmp) through
# `toma eval --model-dir` at 1024² in f16: dense, ToMA, ToMeSD and ToDo at ratio 0.5, 4 seeds, 20 steps.
# Speed is each method's UNet denoising stage in the same pipeline call (speedup vs dense, same run); the
# fidelity columns on random weights mean nothing (docs/sdxl-pipeline.md, "Evaluation"). results.md,
# results.json and pareto.svg go to $OUT/sdxl-eval (the 1024² image atlases and grid stay in /tmp: too
# large to bring back). Logs to $OUT/sdxl-eval.log; --quick skips the tests.
#   source .gpu/setup.sh && bash tools/device/sdxl-eval.sh [--quick]
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
quick=0
if [[ "${1:-}" == --quick ]]; then quick=1; shift; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): unknown argument \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out/sdxl-eval"
exec > >(tee -a "$out/sdxl-eval.log") 2>&1
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

if [[ $quick == 0 ]]; then
  stamp "SDXL eval tests on the H100"
  timeout 200 node tools/run-tests.mjs cli/eval-sdxl 2>&1 | grep -E 'ℹ (tests|pass|fail|skipped)|✖|error:' | head -30
fi

stamp "random-weight SDXL base 1.0, diffusers layout"
timeout 240 node tools/make-random-sdxl-folder.mjs --preset sdxl-base --out /tmp/sdxl-base --threads 12 --force | tail -2

stamp "toma eval, 1024², f16, 20 Euler steps, 4 seeds: dense, toma/tomesd 0.5, todo"
rm -rf /tmp/sdxl-eval-out
timeout 420 node dist/src/cli/main.js eval --model-dir /tmp/sdxl-base --size 1024 --steps 20 --seeds 4 \
  --methods toma,tomesd,todo --ratios 0.5 --features none --out /tmp/sdxl-eval-out 2>&1 |
  grep -v '^Warning\|While\|at Init\|^eval \['
cp /tmp/sdxl-eval-out/results.md /tmp/sdxl-eval-out/results.json /tmp/sdxl-eval-out/pareto.svg "$out/sdxl-eval/" 2>/dev/null
stamp "done"
