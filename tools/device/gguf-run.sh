#!/usr/bin/env bash
# One GPU call (2026-12-06, issue 16): quantized weights on the H100. The quantized-matmul kernel tests
# (f16 and tensor-core variants, which SwiftShader cannot run), the kernel benchmark (dense f16 vs
# fused vs dequantize-then-dense on FLUX.1-dev's linear shapes), files made by llama.cpp's gguf-py
# through `toma forward` on WebGPU, then FLUX.1-dev 1024² forwards: f16, Q8_0 and Q4_K (each strategy),
# Q4_K streamed under --max-memory 6GiB (2 and 1 slots), and the official model in PyTorch (eager,
# torch.compile) for scale. Logs to $OUT; --quick skips the kernel tests and the PyTorch run.
#   source .gpu/setup.sh && bash tools/device/gguf-run.sh [--quick]
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
quick=0
if [[ "${1:-}" == --quick ]]; then quick=1; shift; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): unknown argument \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee -a "$out/gguf-run.log") 2>&1
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

if [[ $quick == 0 ]]; then
  stamp "quantized matmul and streaming tests on the H100 (guard mode, robustness off)"
  timeout 240 node tools/run-tests.mjs kernels/matmul-quant models/flux/gguf models/flux/residency 2>&1 |
    grep -E 'ℹ (tests|pass|fail|skipped)|✖|error:' | head -30
fi

stamp "kernel benchmark: FLUX.1-dev linear shapes at 1024² (M = 4608)"
timeout 150 node dist/bench/matmul-quant.js --json "$out/matmul-quant.json" 2>&1 | grep -v '^Warning\|While\|at Init'

stamp "files made by gguf-py through toma forward (WebGPU, f32)"
if pip install -q --no-deps --target /tmp/gguf-py .tools/gguf-0.19.0-py3-none-any.whl 2>/dev/null; then
  PYTHONPATH=/tmp/gguf-py timeout 200 python3 tools/gguf-crosscheck.py --backend webgpu --json "$out/crosscheck.json"
else
  echo "gguf-py not installable here; skipped"
fi

bench() {
  local name=$1; shift
  stamp "FLUX.1-dev 1024² forward: $name"
  timeout 150 node dist/bench/flux-forward.js --res 1024 --runs 10 --no-profile --json "$out/fwd-$name.json" "$@" 2>&1 |
    grep -v '^Warning\|While\|at Init' | tail -6
}
bench f16
bench q8_0-fused --weights q8_0 --quant-matmul fused
bench q8_0-dequantize --weights q8_0 --quant-matmul dequantize
bench q4_k-fused --weights q4_k --quant-matmul fused
bench q4_k-dequantize --weights q4_k --quant-matmul dequantize
bench q4_k-6gib-2slots --weights q4_k --max-memory 6GiB --slots 2
bench q4_k-6gib-1slot --weights q4_k --max-memory 6GiB --slots 1

if [[ $quick == 0 ]]; then
  stamp "the official model in PyTorch (bf16), eager and torch.compile"
  timeout 240 python3 bench/flux_torch.py --res 1024 --runs 10 --compile --json "$out/torch.json" 2>&1 | tail -6
fi
stamp "done"
