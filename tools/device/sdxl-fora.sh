#!/usr/bin/env bash
# One short GPU call (issue 17): FORA's UNet step cache in the SDXL pipeline at 1024², f16, 30 Euler steps
# on a random-weight SDXL base folder: dense vs dense + fora:2 on the same noise, and ToMA 0.5 vs
# ToMA 0.5 + fora:2 (stage times and peaks; fidelity on random weights means nothing). Logs to $OUT.
#   source .gpu/setup.sh && bash tools/device/sdxl-fora.sh
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): takes no arguments; got \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee -a "$out/sdxl-fora.log") 2>&1
date -u +%FT%TZ
toma() { timeout "$1" node dist/src/cli/main.js "${@:2}" 2>&1 | grep -vE '^Warning|While|at Init|\[#|\[-'; }
timeout 120 node tools/make-random-sdxl-folder.mjs --preset sdxl-base --out /tmp/sdxl-base --threads 12 --force | tail -1
for m in dense toma; do
  echo "===== $m vs $m + fora:2"
  toma 150 generate --model-dir /tmp/sdxl-base --prompt "a red fox in the snow" --size 1024 --steps 30 \
    --method "$m" --ratio 0.5 --cache fora:2 --compare --out "$out/$m" --overwrite
done
