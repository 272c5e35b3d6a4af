#!/usr/bin/env bash
# The lake on S3 against a local lake, on this machine: versitygw (a real S3
# server, posix backend) on loopback. At scale S (default 1), medians of 3:
#   - `nexus run --no-reports` into a new lake: local directory vs s3://;
#   - `nexus query` of Gold on s3:// with a cold cache (everything
#     downloaded) and a warm one (the cache's hit rate from the mirror's log);
#   - a run again with nothing changed.
# Prints markdown; logs stay in bench/out/s3/.
#   bash bench/s3.sh            # scale 1
#   bash bench/s3.sh 0.1
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
GW_BIN="$(go env GOPATH)/bin/versitygw"
[ -x "$GW_BIN" ] || { echo "needs versitygw: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0" >&2; exit 1; }
S=${1:-1}
OUT=$PWD/bench/out/s3
rm -rf "$OUT"; mkdir -p "$OUT/gw/lake"
go build -o "$OUT/nexus" ./cmd/nexus
N="$OUT/nexus"
"$N" generate --out "$OUT/data" --scale "$S" --seed 1 > /dev/null
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
PORT=127.0.0.1:27997
"$GW_BIN" --access bench --secret bench-secret --port "$PORT" posix "$OUT/gw" > /dev/null 2> "$OUT/gw.log" &
GW=$!
trap 'kill $GW 2>/dev/null || true' EXIT
sleep 1
S3=(--s3-endpoint "http://$PORT")

secs() { # secs LOG CMD...: runs CMD, prints wall seconds
  local log=$1; shift
  /usr/bin/time -f "%e" -o "$OUT/time.txt" "$@" > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
  cat "$OUT/time.txt"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
Q="SELECT year, month, count(*) AS items, sum(price) AS revenue FROM gold.fact_sales GROUP BY ALL ORDER BY ALL"

local_runs=(); s3_runs=(); cold=(); warm=(); again=()
for i in 1 2 3; do
  local_runs+=("$(secs "$OUT/local-$i.log" "$N" run --source "$OUT/data" --no-reports --lake "$OUT/local-$i")")
  s3_runs+=("$(secs "$OUT/s3-$i.log" "$N" run --source "$OUT/data" --no-reports --lake "s3://lake/run-$i" "${S3[@]}" --cache-dir "$OUT/cache-run")")
  cold+=("$(secs "$OUT/cold-$i.log" "$N" query --log-level info --lake "s3://lake/run-$i" "${S3[@]}" --cache-dir "$OUT/cache-q-$i" "$Q")")
  warm+=("$(secs "$OUT/warm-$i.log" "$N" query --log-level info --lake "s3://lake/run-$i" "${S3[@]}" --cache-dir "$OUT/cache-q-$i" "$Q")")
  again+=("$(secs "$OUT/again-$i.log" "$N" run --source "$OUT/data" --no-reports --lake "s3://lake/run-$i" "${S3[@]}" --cache-dir "$OUT/cache-run")")
done
field() { grep -o "$1=[0-9]*" "$2" | head -1 | cut -d= -f2; }
m() { printf '%s\n' "$@" | median; }
echo "## Lake on S3 (versitygw on loopback) vs a local lake, scale $S ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| step | runs (s) | median |"
echo "|---|---|---:|"
echo "| run into a new local lake | ${local_runs[*]} | $(m "${local_runs[@]}") s |"
echo "| run into a new lake on s3:// | ${s3_runs[*]} | $(m "${s3_runs[@]}") s |"
echo "| query on s3://, cold cache | ${cold[*]} | $(m "${cold[@]}") s |"
echo "| query on s3://, warm cache | ${warm[*]} | $(m "${warm[@]}") s |"
echo "| run again on s3://, nothing changed | ${again[*]} | $(m "${again[@]}") s |"
echo
echo "Mirror of the query (run 1): cold: $(field snapshot_files "$OUT/cold-1.log") files, $(field cache_hits "$OUT/cold-1.log") from the cache, $(field downloaded "$OUT/cold-1.log") downloaded ($(field bytes_downloaded "$OUT/cold-1.log") bytes); warm: $(field cache_hits "$OUT/warm-1.log") of $(field snapshot_files "$OUT/warm-1.log") from the cache."
echo "Objects in the bucket after the runs: $(find "$OUT/gw/lake" -type f | wc -l), $(du -sh "$OUT/gw/lake" | cut -f1)."
