#!/usr/bin/env bash
# One GPU call (2026-12-06, issues 14 and 15): the CLI as users run it now (a filtering parent process,
# a supervisor thread, the command in a worker thread with Dawn) and the library's one-call pipeline on the
# H100: `toma --version`, `toma doctor`, the main command with its defaults (embedded model, dense vs the
# default method), the same image through `pipeline()`, then the whole test suite (TOMA_REQUIRE_GPU=1).
# Logs to $OUT.
#   source .gpu/setup.sh && bash tools/device/first-run.sh
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): takes no arguments; got \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee -a "$out/first-run.log") 2>&1
date -u +%FT%TZ
t0=$(date +%s)
stamp() { echo "===== $1 ($(( $(date +%s) - t0 )) s)"; }
[ -d .fixtures ] && export TOMA_FIXTURES=$PWD/.fixtures
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader

stamp "toma --version; toma doctor"
node dist/src/cli/main.js --version
timeout 120 node dist/src/cli/main.js doctor 2>&1 | tail -8

stamp "npm start's command (defaults), twice"
for i in 1 2; do
  s=$(date +%s%N)
  timeout 150 node dist/src/cli/main.js generate --out /tmp/gen$i 2>&1 | grep -vE '\[#|\[-' | tail -9
  echo "wall $(( ($(date +%s%N) - s) / 1000000 )) ms"
done

stamp "the same through the library's pipeline()"
cat > /tmp/api.mjs <<'JS'
import { pipeline } from '/workdir/dist/src/index.js';
const pipe = await pipeline('text-to-image');
console.log(pipe.pipeline.backend.info().description, pipe.pipeline.dtype);
for (const method of ['dense', 'toma']) {
  await pipe(['green-meadow', 'twilight-lake'], { method, cache: method === 'dense' ? null : undefined, steps: 1 });
  const t = performance.now();
  const ims = await pipe(['green-meadow', 'twilight-lake'], { method, cache: method === 'dense' ? null : undefined });
  console.log(`${ims[0].method}: ${(performance.now() - t).toFixed(0)} ms for 2 images, 28 steps (sampler ${ims[0].totalMs.toFixed(0)} ms)`);
}
pipe.dispose();
JS
sed -i "s#/workdir#$PWD#" /tmp/api.mjs
timeout 150 node /tmp/api.mjs 2>&1 | tail -4

stamp "npm test's suite on the H100 (guard mode, robustness off; then kernel tests robust)"
TOMA_REQUIRE_GPU=1 timeout 420 node tools/run-tests.mjs 2>&1 | tee /tmp/tests.log | grep -E "^not ok|^✖|^ℹ |robust" | tail -40
cp /tmp/tests.log "$out/tests.log"
stamp "done"
