#!/usr/bin/env bash
# One GPU call for issue 13 on the embedded model (2026-12-06): doctor (guard mode), TeaCache's
# polynomial fitted on dense runs, then one `toma eval` over 64 seeds with every method alone, the step
# caches alone at several thresholds, their combinations with ToMA / HilbertA, and candidate default
# schedules (all against the same dense images). Images come back as tar parts for the deep features
# and KID computed afterwards on the development machine (`toma eval --from`).
#   source .gpu/setup.sh && bash tools/device/eval-cache.sh
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): takes no arguments; got \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
log="$out/eval-cache.log"
exec > >(tee -a "$log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }

stamp "doctor"
timeout 120 node dist/src/cli/main.js doctor --backend webgpu 2>&1 | grep -vE "^  (ok|pass)" | tail -15

stamp "fit TeaCache's polynomial (dense, 16 seeds, 128 px, 28 steps)"
timeout 120 node tools/fit-teacache.mjs --backend webgpu --seeds 16 --json /tmp/fit.json 2>&1 | tail -8
poly=$(node -e "const r=require('/tmp/fit.json'); const c=r.coefficients ?? r.fit?.coefficients; process.stdout.write(c.map((v)=>v.toExponential(8)).join(','))" 2>/dev/null)
echo "poly: ${poly:-none (identity)}"
polyflag=()
[ -n "$poly" ] && polyflag=(--teacache-poly "$poly")

configs=(
  toma:0.25 toma:0.5 toma:0.75 hilbert toma+hilbert:0.5
  fbcache:0.1 fbcache:0.2 fbcache:0.3 teacache:0.15 teacache:0.3 teacache:0.5
  taylorseer:3 taylorseer:5 fora:2 fora:3
  toma:0.5+fbcache:0.2 toma:0.5+teacache:0.3 toma:0.5+taylorseer:3 toma:0.5+fora:2 toma:0.25+fbcache:0.2
  hilbert+fbcache:0.2 toma+hilbert:0.5+fbcache:0.2 toma+hilbert:0.5+teacache:0.3
  toma:0.5@every=2 toma:0.5@every=3 toma:0.5@exempt=1/2 toma:0.5@every=2@exempt=1/2 toma:0.25@every=2
  toma:0.5@every=3+fbcache:0.2 toma:0.5@every=2@exempt=1/2+fbcache:0.1
)
list=$(IFS=,; echo "${configs[*]}")
stamp "eval: ${#configs[@]} configurations + dense, 64 seeds"
timeout 480 node dist/src/cli/main.js eval --backend webgpu --seeds 64 --configs "$list" --speed-seeds 4 \
  --features none "${polyflag[@]}" --out /tmp/eval 2>&1 | grep -vE "^\[[0-9]+/" | tail -60
stamp "pack"
cp /tmp/fit.json /tmp/eval/ 2>/dev/null
(cd /tmp/eval && tar -cf "$out/eval-meta.tar" results.json results.md pareto.svg grid.png fit.json 2>/dev/null)
(cd /tmp/eval && tar -cf - samples-*.png | split -b 15m - "$out/eval-samples.tar.part-")
ls -la "$out"
stamp "done"
