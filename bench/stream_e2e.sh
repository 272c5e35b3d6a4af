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
# Prints markdown; raw logs stay in bench/out/stream-e2e/.
#   bash bench/stream_e2e.sh                       # 60 s runs, RATES="50000 60000", 3 runs each
#   DURATION=20s RATES=50000 RUNS=1 bash bench/stream_e2e.sh
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
[ -d "$OUT/data" ] || "$N" generate --out "$OUT/data" --scale "$SCALE" --seed 1 >/dev/null
BROKER=127.0.0.1:29492
GRPC=127.0.0.1:27470

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

run() { # run LABEL LOAD-ARGS...: one load against a fresh broker, edge, worker and lake
  local label=$1; shift
  rm -rf "$OUT/lake"
  part broker stream broker --addr "$BROKER"
  sleep 1
  part edge stream serve --grpc "$GRPC" --brokers "$BROKER"
  sleep 2
  part worker stream worker --brokers "$BROKER" --lake "$OUT/lake" --log-level info
  sleep 2
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/load.time" "$N" stream load --grpc "$GRPC" --from "$OUT/data" \
    --duration "$DURATION" --freshness-lake "$OUT/lake" --freshness-wait 5m "$@" > "$OUT/load.log" 2>&1 || { cat "$OUT/load.log" >&2; }
  local rows q=""
  for t in $("$N" tables --lake "$OUT/lake" | awk '$1 ~ /^bronze\./ {print $1}'); do
    q="$q${q:+ + }(SELECT count(*) FROM $t)"
  done
  rows=$("$N" query --lake "$OUT/lake" --format csv "SELECT $q AS n" | tail -1)
  stop worker; stop edge; stop broker
  local batches took
  batches=$(grep -c "micro-batch committed" "$OUT/worker.log" || true)
  took=$(grep "micro-batch committed" "$OUT/worker.log" | grep -o 'took=[0-9.]*[a-zµ]*' | sed 's/took=//' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
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
for rate in $RATES; do
  for _ in $(seq "$RUNS"); do run "client streams at $rate events/s" --rate "$rate"; done
done
run "client streams, unpaced, 20 s" --duration 20s
run "unary, 1 event/call, 2,000 calls/s" --unary --batch 1 --rate 2000 --concurrency 8
echo
echo "Freshness follows the last event of every batch (every call with --unary) from its acknowledgement to the first"
echo "snapshot of the lake that holds it (polled every 20 ms, so up to 20 ms late). Rows in Bronze equal events"
echo "acknowledged when every event was committed once."
