#!/usr/bin/env bash
# Cost of writing a landing zone (generate --daily-from) against a plain
# generate of the same data set, at the given scales (default: 1).
#   bash bench/generate_daily.sh          # scale 1
#   bash bench/generate_daily.sh 1 10     # any scales
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
OUT=bench/out
mkdir -p "$OUT"
go build -o "$OUT/nexus" ./cmd/nexus
N="$PWD/$OUT/nexus"
echo "| scale | step | wall | peak RSS | folders |"
echo "|---:|---|---:|---:|---:|"
for scale in "${@:-1}"; do
  D="$PWD/$OUT/gen-daily-$scale"
  for run in 1 2 3; do
    rm -rf "$D"; mkdir -p "$D"
    /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$N" generate --out "$D/flat" --scale "$scale" --seed 42 >/dev/null 2>&1
    read -r secs kb < "$OUT/time.txt"
    echo "| $scale | generate (run $run) | $secs s | $((kb / 1024)) MB | |"
    /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$N" generate --out "$D/landing" --scale "$scale" --seed 42 --daily-from 2018-01-01 >/dev/null 2>&1
    read -r secs kb < "$OUT/time.txt"
    echo "| $scale | generate --daily-from 2018-01-01 (run $run) | $secs s | $((kb / 1024)) MB | $(ls -d "$D"/landing/dt=* | wc -l) |"
  done
  rm -rf "$D"
done
