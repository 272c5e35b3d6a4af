#!/usr/bin/env bash
# The stream end to end on this machine, loopback, embedded broker, each part
# its own process (broker, edge, worker, load), default worker batch settings:
#   - client streams paced at RATE events/s for DURATION: events/s
#     acknowledged, and freshness (acknowledged → visible in the lake's
#     current snapshot, as `nexus query` sees it; the last event of every
#     batch is followed), p50/p95/p99/max; then `nexus query` counts Bronze;
#   - the same, unpaced (as fast as the edge acknowledges): how far the worker
#     falls behind when the client outruns it;
#   - unary calls of one event at 2,000 calls/s: acknowledgement latency and
#     freshness;
#   - CPU seconds and peak RSS of each process (GNU time), CPU as % of one core
#     over the run.
# STORES="local s3" runs each load on a local lake and on a lake on S3
# (versitygw, a real S3 server with its posix backend, on loopback: worker,
# freshness probe and `nexus query` take --lake s3://…); the micro-batch
# commit column is then the one to compare (median of the worker's `took`,
# in ms). EXTRAS=0 leaves out the unpaced and unary runs; LOAD_ARGS replace
# the paced runs' client streams (e.g. unary calls of a few hundred events).
# Prints markdown; raw logs stay in bench/out/stream-e2e/.
#   bash bench/stream_e2e.sh                       # 60 s runs, RATES="50000 60000", 3 runs each
#   DURATION=20s RATES=50000 RUNS=1 bash bench/stream_e2e.sh
#   STORES="local s3" LOAD_ARGS="--unary --batch 300 --concurrency 1" RATES=1 DURATION=60s EXTRAS=0 \
#     bash bench/stream_e2e.sh     # a micro-batch of 300 events a second: the commit on a local lake vs on S3
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
OUT=bench/out/stream-e2e
mkdir -p "$OUT"
go build -o "$OUT/nexus" ./cmd/nexus
N="$PWD/$OUT/nexus"
DURATION=${DURATION:-60s}
RATES=${RATES:-50000 60000}
RUNS=${RUNS:-3}
SCALE=${SCALE:-0.2}
STORES=${STORES:-local}
EXTRAS=${EXTRAS:-1}
LOAD_ARGS=${LOAD_ARGS:-}
[ -d "$OUT/data" ] || "$N" generate --out "$OUT/data" --scale "$SCALE" --seed 1 >/dev/null
BROKER=127.0.0.1:29492
GRPC=127.0.0.1:27470
GW=""
if [[ " $STORES " == *" s3 "* ]]; then
  GW_BIN="$(go env GOPATH)/bin/versitygw"
  [ -x "$GW_BIN" ] || { echo "needs versitygw: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0" >&2; exit 1; }
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  GW_PORT=127.0.0.1:27998
  rm -rf "$OUT/gw" "$OUT/cache"; mkdir -p "$OUT/gw/lake"
  "$GW_BIN" --access bench --secret bench-secret --port "$GW_PORT" posix "$OUT/gw" > /dev/null 2> "$OUT/gw.log" &
  GW=$!
  trap 'kill $GW 2>/dev/null || true' EXIT
  sleep 1
fi
NLAKE=0

# part NAME ARGS...: starts a process under GNU time, in the background; its
# pid (of time) in PIDS[NAME].
declare -A PIDS
part() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/$name.time" "$N" "$@" > "$OUT/$name.log" 2>&1 &
  PIDS[$name]=$!
}
stop() { pkill -INT -P "${PIDS[$1]}" 2>/dev/null || true; wait "${PIDS[$1]}" 2>/dev/null || true; }
usage() { awk '{printf "%.1f s CPU (%.0f%% of a core), %d MB", $2+$3, 100*($2+$3)/$1, $4/1024}' "$OUT/$1.time"; }

run() { # run STORE LABEL LOAD-ARGS...: one load against a fresh broker, edge, worker and lake
  local store=$1 label=$2; shift 2
  local lake=("--lake" "$OUT/lake") fresh="$OUT/lake"
  rm -rf "$OUT/lake"
  if [ "$store" = s3 ]; then
    NLAKE=$((NLAKE + 1))
    fresh="s3://lake/stream-$NLAKE"
    lake=(--lake "$fresh" --s3-endpoint "http://$GW_PORT" --cache-dir "$OUT/cache")
    label="$label, lake on S3"
  fi
  part broker stream broker --addr "$BROKER"
  sleep 1
  part edge stream serve --grpc "$GRPC" --brokers "$BROKER"
  sleep 2
  part worker stream worker --brokers "$BROKER" "${lake[@]}" --log-level info
  sleep 2
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/load.time" "$N" stream load --grpc "$GRPC" --from "$OUT/data" \
    --duration "$DURATION" --freshness-lake "$fresh" "${lake[@]:2}" --freshness-wait 5m "$@" > "$OUT/load.log" 2>&1 || { cat "$OUT/load.log" >&2; }
  local rows q=""
  for t in $("$N" tables "${lake[@]}" | awk '$1 ~ /^bronze\./ {print $1}'); do
    q="$q${q:+ + }(SELECT count(*) FROM $t)"
  done
  rows=$("$N" query "${lake[@]}" --format csv "SELECT $q AS n" | tail -1)
  stop worker; stop edge; stop broker
  local batches took
  batches=$(grep -c "micro-batch committed" "$OUT/worker.log" || true)
  # In ms whatever the unit Go printed (µs, ms, s), then the median.
  took=$(grep "micro-batch committed" "$OUT/worker.log" | grep -o 'took=[0-9.]*[a-zµ]*' | sed 's/took=//' |
    awk '/µs$/ {print $1/1000; next} /ms$/ {print $1+0; next} /[0-9]s$/ {print $1*1000}' | sort -g |
    awk '{a[NR]=$1} END {printf "%.1f ms", a[int((NR+1)/2)]}')
  cp "$OUT/worker.log" "$OUT/worker-$store-$NLAKE-$(date +%s).log"
  local acked eps p50 p99 f50 f95 f99 fmax
  acked=$(sed -n 's/.* \([0-9]*\) acknowledged,.*/\1/p' "$OUT/load.log")
  eps=$(grep -o '[0-9]* events/s' "$OUT/load.log" | awk '{print $1}')
  read -r p50 p99 < <(sed -n 's/^acknowledgement latency.*p50 \([^,]*\), p95 [^,]*, p99 \([^,]*\),.*/\1 \2/p' "$OUT/load.log")
  read -r f50 f95 f99 fmax < <(sed -n 's/^freshness.*p50 \([^,]*\), p95 \([^,]*\), p99 \([^,]*\), max \(.*\)$/\1 \2 \3 \4/p' "$OUT/load.log")
  echo "| $label | $eps | $acked | $rows | $p50 / $p99 | $f50 / $f95 / $f99 / $fmax | $batches, $took | $(usage load) | $(usage edge) | $(usage broker) | $(usage worker) |"
}

echo "## Stream end to end: load → gRPC edge → Kafka (embedded broker) → worker → Bronze, $DURATION per run, scale $SCALE data set replayed"
echo
echo "$(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(go version | awk '{print $3}'); worker defaults (50,000 events or 1 s per micro-batch)"
echo
echo "| run | events/s acknowledged | events acknowledged | rows in Bronze (nexus query) | ack p50 / p99 | freshness p50 / p95 / p99 / max | micro-batches, median commit | load | edge | broker | worker |"
echo "|---|---:|---:|---:|---|---|---|---|---|---|---|"
for store in $STORES; do
  for rate in $RATES; do
    if [ -n "$LOAD_ARGS" ]; then
      # shellcheck disable=SC2086 # LOAD_ARGS are words
      for _ in $(seq "$RUNS"); do run "$store" "$LOAD_ARGS --rate $rate" $LOAD_ARGS --rate "$rate"; done
    else
      for _ in $(seq "$RUNS"); do run "$store" "client streams at $rate events/s" --rate "$rate"; done
    fi
  done
  if [ "$EXTRAS" = 1 ]; then
    run "$store" "client streams, unpaced, 20 s" --duration 20s
    run "$store" "unary, 1 event/call, 2,000 calls/s" --unary --batch 1 --rate 2000 --concurrency 8
  fi
done
echo
echo "Freshness follows the last event of every batch (every call with --unary) from its acknowledgement to the first"
echo "snapshot of the lake that holds it (polled every 20 ms, so up to 20 ms late). Rows in Bronze equal events"
echo "acknowledged when every event was committed once."
