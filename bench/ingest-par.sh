#!/usr/bin/env bash
# Serial vs chunked (parallel) parse of large CSV files by `ingest`: the
# geolocation file alone, and all nine files, at the given scales (default 10
# and 30). Each case runs 3 times into a fresh lake; the table gives medians
# of wall time, CPU (user+sys), CPU utilisation and peak RSS, and the
# serial/parallel wall ratio.
#   bash bench/ingest-par.sh            # scales 10 and 30
#   bash bench/ingest-par.sh 1 10       # any scales
# Data: $BENCH_DIR/scale-S/src (default /tmp/nexus-bench-par), generated with
# seed 1 when missing. Report: bench/out/ingest-par.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
OUT=bench/out
BENCH_DIR=${BENCH_DIR:-/tmp/nexus-bench-par}
REPS=${REPS:-3}
mkdir -p "$OUT" "$BENCH_DIR"
go build -o "$OUT/nexus" ./cmd/nexus
go build -o "$OUT/ingest" ./bench/ingest
REPORT="$OUT/ingest-par.md"
: > "$OUT/ingest-par-raw.txt"

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

{
  echo "# bench/ingest-par.sh — $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
  echo
  echo "Median of $REPS runs each; CPU = user+sys seconds; util = CPU / wall (200% = both cores)."
  echo
  echo "| scale | files | input | mode | wall s | CPU s | util | peak RSS MB | parts | chunks redone |"
  echo "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"
} | tee "$REPORT"

for S in "${@:-10 30}"; do
  for scale in $S; do
    SRC="$BENCH_DIR/scale-$scale/src"
    "$OUT/nexus" generate --out "$SRC" --scale "$scale" --seed 1 > "$OUT/generate-$scale.log"
    for files in geolocation all; do
      table=$files; [ "$files" = all ] && table=
      if [ "$files" = all ]; then bytes=$(du -cb "$SRC"/*.csv | tail -1 | cut -f1); else bytes=$(stat -c %s "$SRC/olist_geolocation_dataset.csv"); fi
      # Serial and parallel runs alternate, so that a change in the load of
      # the (shared) machine weighs on both alike.
      for mode in serial parallel; do : > "$OUT/t-$mode.txt"; done
      for rep in $(seq "$REPS"); do
        for mode in serial parallel; do
          chunk=-1; [ "$mode" = parallel ] && chunk=0
          L="$BENCH_DIR/scale-$scale/lake-$mode"
          rm -rf "$L"
          /usr/bin/time -f "%e %U %S %M" -a -o "$OUT/t-$mode.txt" "$OUT/ingest" -source "$SRC" -lake "$L" -table "$table" -chunk-bytes "$chunk" \
            > "$OUT/ingest-$scale-$files-$mode.log" 2>&1 || { cat "$OUT/ingest-$scale-$files-$mode.log"; exit 1; }
          rm -rf "$L"
        done
      done
      declare -A wall=()
      for mode in serial parallel; do
        T="$OUT/t-$mode.txt"
        w=$(awk '{print $1}' "$T" | median)
        cpu=$(awk '{print $2+$3}' "$T" | median)
        util=$(awk '{printf "%.0f\n", 100*($2+$3)/$1}' "$T" | median)
        rss=$(awk '{printf "%.0f\n", $4/1024}' "$T" | median)
        parts=$(awk '/ parts /{p+=$7} END{print p}' "$OUT/ingest-$scale-$files-$mode.log")
        redone=$(awk '/ redone /{r+=$9} END{print r}' "$OUT/ingest-$scale-$files-$mode.log")
        wall[$mode]=$w
        printf '| %s | %s | %d MB | %s | %s | %s | %s%% | %s | %s | %s |\n' "$scale" "$files" $((bytes / 1000000)) "$mode" "$w" "$cpu" "$util" "$rss" "$parts" "$redone" | tee -a "$REPORT"
        echo "    $scale $files $mode runs (wall user sys rssKB): $(tr '\n' ';' < "$T")" >> "$OUT/ingest-par-raw.txt"
      done
      printf '| %s | %s | | serial/parallel wall | **%.2fx** | | | | | |\n' "$scale" "$files" "$(awk -v a="${wall[serial]}" -v b="${wall[parallel]}" 'BEGIN{print a/b}')" | tee -a "$REPORT"
      unset wall
    done
  done
done
