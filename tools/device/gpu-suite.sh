#!/usr/bin/env bash
# Runs on the GPU machine, from the project root, after `bash ../shared/gpu/pack.sh` here and with
# `.gpu` carried:  source .gpu/setup.sh && bash tools/device/gpu-suite.sh [doctor] [tests] [bench:<script> args...]
# Writes logs under $OUT (or ./out). Each step's log ends with its exit status.
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader | tee "$out/gpu.txt"
date -u +%FT%TZ | tee -a "$out/gpu.txt"
status=0
for step in "$@"; do
  case "$step" in
    doctor)
      node dist/src/cli/main.js doctor --backend webgpu 2>&1 | tee "$out/doctor.log"; s=${PIPESTATUS[0]} ;;
    tests)
      TOMA_REQUIRE_GPU=1 node tools/run-tests.mjs 2>&1 | tee "$out/tests.log" | grep -E '^(✔|✖|﹣)|^  (✖|﹣)|# (tests|pass|fail|skipped)'; s=${PIPESTATUS[0]} ;;
    bench:*)
      IFS=' ' read -r -a parts <<< "${step#bench:}"
      name=$(basename "${parts[0]}" .js)
      node "dist/bench/${parts[0]}" "${parts[@]:1}" 2>&1 | tee "$out/bench-$name.log"; s=${PIPESTATUS[0]} ;;
    *) echo "unknown step $step"; s=2 ;;
  esac
  echo "== $step: exit $s" | tee -a "$out/summary.txt"
  [ "$s" = 0 ] || status=1
done
exit $status
