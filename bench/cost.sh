#!/usr/bin/env bash
# The monthly AWS bill `nexus catalog cost` computes for a generated lake
# (seed 1, default usage: the daily schedule, 100 dashboard views and 100
# analyst queries a day), at 1× and 100× its size: the figures
# docs/technical_report.md quotes. Deterministic for a given commit.
#   bash bench/cost.sh        # scale 1
#   bash bench/cost.sh 0.1
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1}
OUT=bench/out/cost
rm -rf "$OUT"
mkdir -p "$OUT"
go build -o "$OUT/nexus" ./cmd/nexus
N="$PWD/$OUT/nexus"
"$N" generate --out "$OUT/data" --scale "$SCALE" --seed 1 > /dev/null
"$N" --lake "$OUT/lake" run --source "$OUT/data" --no-reports > /dev/null
echo "## nexus catalog cost, scale $SCALE, seed 1 ($(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD))"
for factor in 1 100; do
  echo
  echo "### --data-factor $factor"
  echo
  echo '```'
  "$N" --lake "$OUT/lake" catalog cost --data-factor "$factor" | sed "s|$PWD/||"
  echo '```'
done
