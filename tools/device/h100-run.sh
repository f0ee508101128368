#!/usr/bin/env bash
# One GPU-machine session's worth of checks and benchmarks, in priority order, everything logged to
# $OUT/all.log (the tool returns at most 8 files). Run from the project root with .gpu (and optionally
# .fixtures) carried:  source .gpu/setup.sh && bash tools/device/h100-run.sh
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
log="$out/all.log"
[ -d .fixtures ] && export TOMA_FIXTURES=$PWD/.fixtures
step() { # name, command...
  local name=$1; shift
  echo "===== $name: $*" | tee -a "$log"
  local t0=$(date +%s)
  "$@" 2>&1 | tee -a "$log"
  local s=${PIPESTATUS[0]}
  echo "===== $name: exit $s in $(( $(date +%s) - t0 )) s" | tee -a "$log" "$out/summary.txt" >/dev/null
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$log"
date -u +%FT%TZ | tee -a "$log"
for s in "$@"; do
  case "$s" in
    doctor) step doctor node dist/src/cli/main.js doctor --backend webgpu ;;
    tests) step tests env TOMA_REQUIRE_GPU=1 node tools/run-tests.mjs ;;
    ff1024) step ff1024 node dist/bench/flux-forward.js --res 1024 --method dense,toma:0.25,toma:0.5,toma:0.75,tomesd:0.5,todo,hilbert,toma+hilbert:0.5 --runs 10 --warmup 1 --json "$out/ff1024.json" ;;
    ff2048) step ff2048 node dist/bench/flux-forward.js --res 2048 --method dense,toma:0.5,tomesd:0.5,hilbert,toma+hilbert:0.5 --runs 5 --warmup 1 --json "$out/ff2048.json" ;;
    pipeline) step pipeline node dist/bench/flux-pipeline.js --json "$out/flux-pipeline.json" ;;
    torch) step torch python3 bench/flux_torch.py --res 1024,2048 --json "$out/torch.json" ;;
    tomaops) step tomaops node dist/bench/toma-ops.js --json "$out/toma-ops.json" ;;
    hilbert) step hilbert node dist/bench/hilbert-attention.js ;;
    generate) step generate node dist/src/cli/main.js generate --out /tmp/gen ;;
    # step caches (docs/caching.md): TeaCache's polynomial for the embedded model, the caches alone and with
    # ToMA / HilbertA on the embedded model, and whole 28-step sampling at 1024² replaying a skip pattern
    # ($SCHEDULE: paste a measured pattern, e.g. from evalcache's results.md "Skip patterns"; the default
    # is only an illustration, 12 of 28 steps, dense early and sparse late)
    fitteacache) step fitteacache node tools/fit-teacache.mjs --backend webgpu --seeds 32 --json "$out/fit-teacache.json" ;;
    evalcache) step evalcache node dist/src/cli/main.js eval --backend webgpu --seeds 64 --methods toma,toma+hilbert --ratios 0.5 --caches fbcache:0.08,fbcache:0.12,fbcache:0.2,teacache:0.3,taylorseer:4,fora:3 --speed-seeds 8 --out "$out/eval-cache" ;;
    sampling1024) step sampling1024 node dist/bench/flux-sampling.js --res 1024 --steps 28 --runs 3 --warmup 1 --configs dense,toma:0.5,fbcache:0.12,toma:0.5+fbcache:0.12,toma+hilbert:0.5+fbcache:0.12 --schedule "${SCHEDULE:-full=0,1,2,3,5,7,10,13,17,21,25,27}" --json "$out/flux-sampling-1024.json" ;;
    *) step "$s" bash -c "$s" ;;
  esac
done
