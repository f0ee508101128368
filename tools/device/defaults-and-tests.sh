#!/usr/bin/env bash
# One GPU call (2026-12-06): candidate default settings for the main command on the embedded model
# (64 seeds against dense; ToMA temperature, gentle schedules, ToMA + a step cache), then the whole test
# suite on the H100 in guard mode (TOMA_REQUIRE_GPU=1: canaries checked after every launch; the kernel
# tests a second time with robustness on). Logs to $OUT.
#   source .gpu/setup.sh && bash tools/device/defaults-and-tests.sh
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): takes no arguments; got \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee -a "$out/defaults-tests.log") 2>&1
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }
[ -d .fixtures ] && export TOMA_FIXTURES=$PWD/.fixtures

stamp "eval: default candidates"
configs="toma:0.5,toma:0.5@temp=100,toma:0.5@temp=30,toma:0.25@every=2,toma:0.25@every=2+fora:2,toma:0.25@every=2+taylorseer:3,toma:0.5@every=2@exempt=1/2+fora:2,toma:0.25@every=2@temp=100+fora:2,toma:0.25@every=3+fora:2,fora:2,taylorseer:3"
timeout 200 node dist/src/cli/main.js eval --backend webgpu --seeds 64 --configs "$configs" --speed-seeds 8 \
  --features none --out /tmp/evald 2>&1 | grep -vE "^\[[0-9]+/" | tail -32
(cd /tmp/evald && tar -cf "$out/eval-defaults.tar" results.json results.md pareto.svg grid.png)

stamp "npm test's suite on the H100 (guard mode, robustness off; then kernel tests robust)"
TOMA_REQUIRE_GPU=1 timeout 380 node tools/run-tests.mjs 2>&1 | tee /tmp/tests.log | grep -E "^not ok|^✖|^ℹ |robust" | tail -40
stamp "done"
