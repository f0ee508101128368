#!/usr/bin/env bash
# GPU calls 2 and 3 of 2026-12-06 (issues 16 and 18), after gguf-run.sh chose the decode-then-dense
# quantized matmul and the memory plan was recalibrated: the quantized and streaming tests on the H100;
# FLUX.1-dev 1024² forwards f16 / Q8_0 / Q4_K resident and Q4_K streamed under --max-memory 6GiB (2 and
# 1 slots), side by side, each with nvidia-smi's memory.used sampled every 100 ms (the process's real
# device memory, Dawn's own included; the benchmark's peak counts our buffers); then the serving load
# test (in-process queue, one WebGPU worker, embedded model). Logs to $OUT. Needs
# .tools/autocannon.tar.xz (autocannon and its dependencies: devDependencies are not in .gpu).
#   source .gpu/setup.sh && bash tools/device/gguf-stream.sh
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): takes no arguments; got \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee -a "$out/gguf-stream.log") 2>&1
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

stamp "quantized matmul, GGUF and streaming tests on the H100 (guard mode, robustness off)"
timeout 200 node tools/run-tests.mjs kernels/matmul-quant models/flux/gguf models/flux/residency 2>&1 |
  grep -E 'ℹ (tests|pass|fail|skipped)|✖|error:' | head -30

bench() {
  local name=$1; shift
  stamp "FLUX.1-dev 1024² forward: $name"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$out/smi-$name.txt" &
  local smi=$!
  timeout 120 node dist/bench/flux-forward.js --res 1024 --runs 10 --no-profile --json "$out/fwd-$name.json" "$@" 2>&1 |
    grep -v '^Warning\|While\|at Init' | grep -E 'memory plan|streamed|^1024|GiB on' | head -6
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  echo "  nvidia-smi memory.used: max $(sort -n "$out/smi-$name.txt" | tail -1) MiB (idle before: $base MiB)"
}
base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
bench f16
bench q8_0 --weights q8_0
bench q4_k --weights q4_k
bench q4_k-6gib-2slots --weights q4_k --max-memory 6GiB --slots 2
bench q4_k-6gib-1slot --weights q4_k --max-memory 6GiB --slots 1

stamp "serving load test: toma serve in-process, one WebGPU worker, embedded model, 128 px, 28 steps"
tar -xJf .tools/autocannon.tar.xz
timeout 200 node tools/load-test.mjs --backend webgpu --in-process --clients 8 --jobs 64 --size 128 --steps 28 \
  --json "$out/load-h100.json" 2>&1 | grep -v '^Warning\|While\|at Init' | tail -14
stamp "done"
