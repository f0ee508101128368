#!/usr/bin/env bash
# One GPU call of exploration for issue 12 (2026-12-06): correctness of the changed kernels on the
# H100, then the Flux-dev forward under Dawn toggle sets (this tree's dist/ and, when carried, the
# previous commit's build in .base/dist), the HilbertA attention with and without outer key ranges,
# and attention vs SDPA. Logs to $OUT/explore.log; JSON per run under $OUT.
#   source .gpu/setup.sh && bash tools/device/explore.sh
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): takes no arguments; got \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
log="$out/explore.log"
exec > >(tee -a "$log") 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }

stamp "kernel tests on the GPU"
TOMA_REQUIRE_GPU=1 timeout 240 node tools/run-tests.mjs kernels/attention_sgm kernels/heads kernels/matmul kernels/norm merge/toma.test models/flux/forward 2>&1 | grep -E "^not ok|✖|^ℹ (tests|pass|fail|skipped)|Error" | head -40

ff() { # label, dist dir, extra flags...
  local label=$1 dir=$2; shift 2
  stamp "forward $label"
  timeout 150 node "$dir/bench/flux-forward.js" --res 1024 --method dense,toma:0.5,toma:0.75 --runs 6 --warmup 1 --no-profile --json "$out/ff-$label.json" "$@" 2>&1 | grep -E "median|device:|Error|error" | head -8
}
ff robust dist
ff unsafe dist --unsafe-disable-robustness
[ -d .base/dist ] && ff base-robust .base/dist
[ -d .base/dist ] && ff base-unsafe .base/dist --unsafe-disable-robustness
ff robust-range dist --dawn-toggles enable_integer_range_analysis_in_robustness
ff unsafe-wginit dist --unsafe-disable-robustness --dawn-toggles disable_workgroup_init
ff unsafe-wginit-divmod dist --unsafe-disable-robustness --dawn-toggles disable_workgroup_init,disable_polyfills_on_integer_div_and_mod
ff unsafe-wginit-skipval dist --unsafe-disable-robustness --dawn-toggles disable_workgroup_init,skip_validation
ff unsafe-again dist --unsafe-disable-robustness

stamp "HilbertA attention (outer key ranges vs without)"
timeout 120 node dist/bench/hilbert-attention.js --unsafe-disable-robustness 2>&1 | grep -v '^JSON' | head -20

stamp "attention vs SDPA"
timeout 150 node dist/bench/kernels.js --only attention --torch bench/torch_kernels.py --reps 3 --json "$out/attn.json" 2>&1 | tail -14
stamp "done"
