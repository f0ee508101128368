#!/usr/bin/env bash
# One GPU call with the engine's numbers for issues 12 and 13 (2026-12-06), ours and PyTorch's in the
# same call: the Flux-dev forward at 1024² and 2048² (Node default = robustness off, plus the
# browser-equivalent robust mode), PyTorch eager and torch.compile (forward and a 28-step image), and
# whole 28-step sampling with step caches replaying the skip patterns measured on the embedded model
# (tools/device/eval-cache.sh, docs/eval/). Logs to $OUT/final.log, JSON per step.
#   source .gpu/setup.sh && bash tools/device/final-bench.sh
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): takes no arguments; got \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee -a "$out/final.log") 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }
ff() { timeout "$1" node dist/bench/flux-forward.js "${@:2}" 2>&1 | grep -vE "^  run |warm-up" ; }

stamp "forward 1024, Node default (robustness off)"
ff 110 --res 1024 --method dense,toma:0.25,toma:0.5,toma:0.75,tomesd:0.5,todo,hilbert,toma+hilbert:0.5,toma+hilbert:0.5:noouter --runs 6 --warmup 1 --json "$out/ff1024.json"
stamp "forward 1024, robust (what browsers run)"
ff 80 --res 1024 --method dense,toma:0.5,toma:0.75,hilbert,toma+hilbert:0.5 --runs 5 --warmup 1 --no-profile --robust --json "$out/ff1024-robust.json"
stamp "forward 2048, Node default"
ff 110 --res 2048 --method dense,toma:0.5,hilbert,toma+hilbert:0.5 --runs 4 --warmup 1 --json "$out/ff2048.json"

stamp "sampling 1024, 28 steps (caches replay the embedded model's measured patterns)"
timeout 200 node dist/bench/flux-sampling.js --res 1024 --steps 28 --runs 2 --warmup 1 \
  --configs "dense,toma:0.5@every=1,toma:0.5,fbcache:0.2,taylorseer:3,toma:0.5@every=1+fbcache:0.2,toma:0.5@every=1+taylorseer:3,toma+hilbert:0.5@every=1+fbcache:0.2,toma:0.25@every=2+fora:2" \
  --schedule-for "fbcache:0.2|full=0,1,4,8,13,18,22,24,26,27" \
  --schedule-for "toma:0.5@every=1+fbcache:0.2|full=0,1,3,6,10,15,20,23,25,27" \
  --schedule-for "toma+hilbert:0.5@every=1+fbcache:0.2|full=0,1,3,7,12,17,21,24,26,27" \
  --json "$out/sampling1024.json" 2>&1 | grep -vE "^  run "

stamp "PyTorch eager and torch.compile, same card"
PYTHONUNBUFFERED=1 timeout 280 python3 bench/flux_torch.py --res 1024,2048 --runs 8 --warmup 2 --compile --image-steps 28 --image-runs 2 --json "$out/torch.json" 2>&1 | grep -vE "Warning|warn" | tail -8
stamp "done"
