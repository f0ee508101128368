#!/usr/bin/env bash
# One GPU call (2026-12-06, issue 18): the serving load test on the H100 with Redis and one `toma
# worker` (BullMQ), beside the in-process queue, same settings. The GPU machine has no redis-server, so
# .tools/redis/ carries Debian 12's binary and the libraries it needs beyond the base system (jemalloc,
# lzf, atomic); .tools/autocannon.tar.xz carries autocannon (a devDependency, not in .gpu). Logs to $OUT.
#   source .gpu/setup.sh && bash tools/device/serve-load.sh
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0; fi
if [[ $# -gt 0 ]]; then echo "$(basename "$0"): takes no arguments; got \"$1\" (--help for usage)" >&2; exit 2; fi
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
exec > >(tee -a "$out/serve-load.log") 2>&1
date -u +%FT%TZ
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
tar -xJf .tools/autocannon.tar.xz
export PATH=$PWD/.tools/redis:$PATH LD_LIBRARY_PATH=$PWD/.tools/redis${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
redis-server --version || { echo "redis-server does not run here"; exit 1; }
for mode in "--workers 1" "--in-process"; do
  echo "===== load test: $mode"
  name=$(echo "$mode" | tr -d ' -')
  timeout 240 node tools/load-test.mjs --backend webgpu $mode --clients 8 --jobs 64 --size 128 --steps 28 \
    --json "$out/load-$name.json" 2>&1 | grep -v '^Warning\|While\|at Init' | tail -8
done
