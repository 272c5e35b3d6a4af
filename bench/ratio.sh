#!/usr/bin/env bash
# Issue 8's transform ratio, taken in turn: on the lake bench/run.sh built at
# a scale, alternate `nexus transform --full-refresh` and the bare DuckDB
# script of the same models (bench/baseline models) ROUNDS times, so that a
# noisy neighbour slows both alike; print each round and the medians.
#   bash bench/run.sh 1 && bash bench/ratio.sh 1 7
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
SCALE=${1:?scale}
ROUNDS=${2:-5}
OUT=bench/out
D="$PWD/$OUT/scale-$SCALE"
[ -d "$D/lake" ] || { echo "no lake at $D/lake: run bash bench/run.sh $SCALE first" >&2; exit 1; }
go build -o "$OUT/nexus" ./cmd/nexus
go build -o "$OUT/baseline" ./bench/baseline
# secs CMD...: wall and CPU (user+sys) seconds of CMD.
secs() {
  /usr/bin/time -f "%e %U %S" -o "$OUT/ratio-time.txt" "$@" > "$OUT/ratio.log" 2>&1 || { cat "$OUT/ratio.log"; exit 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$OUT/ratio-time.txt"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "## transform ÷ bare DuckDB at scale $SCALE, $ROUNDS rounds in turn ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
echo "| round | nexus wall | nexus CPU | bare wall | bare CPU | wall ratio |"
echo "|---:|---:|---:|---:|---:|---:|"
nw=(); nc=(); bw=(); bc=(); rr=()
for i in $(seq 1 "$ROUNDS"); do
  read -r w c < <(secs "$OUT/nexus" --lake "$D/lake" transform --full-refresh)
  rm -rf "$D/duck-models"
  read -r bwall bcpu < <(secs "$OUT/baseline" models "$D/lake" "$D/duck-models")
  r=$(awk -v a="$w" -v b="$bwall" 'BEGIN{printf "%.2f", a/b}')
  nw+=("$w"); nc+=("$c"); bw+=("$bwall"); bc+=("$bcpu"); rr+=("$r")
  echo "| $i | $w s | $c s | $bwall s | $bcpu s | $r× |"
done
mnw=$(printf '%s\n' "${nw[@]}" | median); mnc=$(printf '%s\n' "${nc[@]}" | median)
mbw=$(printf '%s\n' "${bw[@]}" | median); mbc=$(printf '%s\n' "${bc[@]}" | median)
mr=$(printf '%s\n' "${rr[@]}" | median)
echo "| **median** | **$mnw s** | $mnc s | **$mbw s** | $mbc s | **$mr×** |"
echo
echo "- ratio of the medians: wall $(awk -v a="$mnw" -v b="$mbw" 'BEGIN{printf "%.2f", a/b}')×, CPU $(awk -v a="$mnc" -v b="$mbc" 'BEGIN{printf "%.2f", a/b}')×; median of the per-round ratios: $mr×"
