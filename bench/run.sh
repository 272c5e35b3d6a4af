#!/usr/bin/env bash
# Benchmarks of the embedded path at the given scales (default: 1 and 10).
# Prints a markdown table per scale; raw outputs stay in bench/out/.
#   bash bench/run.sh          # scales 1 and 10
#   bash bench/run.sh 0.1 1    # any scales
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
OUT=bench/out
mkdir -p "$OUT"
go build -o "$OUT/nexus" ./cmd/nexus
go build -o "$OUT/baseline" ./bench/baseline
N="$PWD/$OUT/nexus"
B="$PWD/$OUT/baseline"
GOLD_QUERY="SELECT d.year, d.month, p.category_en, sum(f.price) AS revenue, count(DISTINCT f.order_id) AS orders
FROM gold.fact_sales f JOIN gold.dim_date d USING (date_id) JOIN gold.dim_product p USING (product_id)
GROUP BY ALL ORDER BY 1, 2, 4 DESC"

# timed LABEL CMD...: runs CMD, records wall seconds and peak RSS (MB).
timed() {
  local label=$1; shift
  /usr/bin/time -f "%e %M %U %S" -o "$OUT/time.txt" "$@" > "$OUT/$label.log" 2>&1 || { cat "$OUT/$label.log"; exit 1; }
  read -r secs kb user sys < "$OUT/time.txt"
  printf '| %s | %s s | %s s | %d MB |\n' "$label" "$secs" "$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}')" $((kb / 1024)) | tee -a "$REPORT"
}

for S in "${@:-1 10}"; do
  for scale in $S; do
    D="$PWD/$OUT/scale-$scale"
    REPORT="$OUT/results-scale-$scale.md"
    rm -rf "$D"; mkdir -p "$D"
    echo "## scale $scale ($(date -u +%FT%TZ), $(nproc) cores)" | tee "$REPORT"
    echo "| step | wall | CPU (user+sys) | peak RSS |" | tee -a "$REPORT"
    echo "|---|---:|---:|---:|" | tee -a "$REPORT"
    timed generate "$N" generate --out "$D/src" --scale "$scale"
    timed ingest "$N" --lake "$D/lake" ingest --source "$D/src"
    timed ingest-unchanged "$N" --lake "$D/lake" ingest --source "$D/src"
    timed duckdb-csv2parquet "$B" csv2parquet "$D/src" "$D/duck-bronze"
    timed transform "$N" --lake "$D/lake" transform
    timed transform-unchanged "$N" --lake "$D/lake" transform
    timed duckdb-models "$B" models "$D/lake" "$D/duck-models"
    rm -rf "$D/lake"
    timed run-fresh-no-gates "$N" --lake "$D/lake" run --source "$D/src" --no-gates
    rm -rf "$D/lake"
    timed run-fresh "$N" --lake "$D/lake" run --source "$D/src"
    timed run-unchanged "$N" --lake "$D/lake" run --source "$D/src"
    csv=$(du -sb "$D/src" | cut -f1)
    bronze=$(du -sb "$D/lake/bronze" | cut -f1)
    rows=$(grep -E '^ *total' "$OUT/ingest.log" | awk '{print $2}')
    ingest_s=$(grep -E '^\| ingest \|' "$REPORT" | awk '{print $4}')
    duck_s=$(grep -E '^\| duckdb-csv2parquet \|' "$REPORT" | awk '{print $4}')
    tr_s=$(grep -E '^\| transform \|' "$REPORT" | awk '{print $4}')
    duckm_s=$(grep -E '^\| duckdb-models \|' "$REPORT" | awk '{print $4}')
    tr_cpu=$(grep -E '^\| transform \|' "$REPORT" | awk '{print $7}')
    duckm_cpu=$(grep -E '^\| duckdb-models \|' "$REPORT" | awk '{print $7}')
    "$B" query "$D/lake" 30 "$GOLD_QUERY" > "$OUT/query.log"
    gates_s=$(grep -E '^\| run-fresh \|' "$REPORT" | awk '{print $4}')
    nogates_s=$(grep -E '^\| run-fresh-no-gates \|' "$REPORT" | awk '{print $4}')
    checks=$(grep -oE 'quality gates: [0-9]+ checks' "$OUT/run-fresh.log" | grep -oE '[0-9]+')
    {
      echo
      echo "- rows ingested: $rows; ingest rows/s: $(awk -v r="$rows" -v s="$ingest_s" 'BEGIN{printf "%.0f", r/s}')"
      echo "- CSV bytes: $csv; Bronze bytes: $bronze; Bronze/CSV: $(awk -v a="$bronze" -v b="$csv" 'BEGIN{printf "%.2f", a/b}')"
      echo "- ingest / bare DuckDB COPY: $(awk -v a="$ingest_s" -v b="$duck_s" 'BEGIN{printf "%.2f", a/b}')x"
      echo "- transform / bare DuckDB models: $(awk -v a="$tr_s" -v b="$duckm_s" 'BEGIN{printf "%.2f", a/b}')x wall, $(awk -v a="$tr_cpu" -v b="$duckm_cpu" 'BEGIN{printf "%.2f", a/b}')x CPU"
      echo "- quality gates: $checks checks add $(awk -v a="$gates_s" -v b="$nogates_s" 'BEGIN{printf "%.2f", a-b}') s to run ($(awk -v c="$checks" -v a="$gates_s" -v b="$nogates_s" 'BEGIN{printf "%.0f", c/(a-b)}') checks/s)"
      echo "- Gold query (revenue by month and category), 30 runs: $(tr '\n' ' ' < "$OUT/query.log")"
    } | tee -a "$REPORT"
  done
done
