#!/usr/bin/env bash
# The stream's edge on this machine, loopback, embedded broker:
#   - client streams (batches of 500, 4 at once) for DURATION: events/s from
#     `nexus stream load` to acknowledged in Kafka (gRPC → Kafka; the worker
#     that commits to Bronze is not built yet);
#   - unary calls of one event at 2,000 requests/s for DURATION: latency
#     percentiles of the acknowledgement (an HDR histogram);
#   - CPU time and peak RSS of each process (GNU time);
#   - end to end: `nexus stream demo` streams the data set through broker,
#     edge and worker in one process and says how long after the last
#     acknowledgement every event was committed to Bronze.
# Three runs each; prints markdown with every run.
#   bash bench/stream_edge.sh            # scale 0.2 data set, 20 s runs
#   DURATION=60s bash bench/stream_edge.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
OUT=bench/out/stream
mkdir -p "$OUT"
go build -o "$OUT/nexus" ./cmd/nexus
N="$PWD/$OUT/nexus"
DURATION=${DURATION:-20s}
SCALE=${SCALE:-0.2}
[ -d "$OUT/data" ] || "$N" generate --out "$OUT/data" --scale "$SCALE" --seed 1 >/dev/null
BROKER=127.0.0.1:29392
GRPC=127.0.0.1:27370

run() { # run MODE ARGS...: one load against a fresh broker and edge
  local mode=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/broker.time" "$N" stream broker --addr "$BROKER" > "$OUT/broker.log" 2>&1 &
  local bpid=$!
  sleep 1
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/edge.time" "$N" stream serve --grpc "$GRPC" --brokers "$BROKER" > "$OUT/edge.log" 2>&1 &
  local epid=$!
  sleep 2
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/load.time" "$N" stream load --grpc "$GRPC" --from "$OUT/data" --duration "$DURATION" "$@" > "$OUT/load.log" 2>&1
  pkill -INT -P "$epid" || true; wait "$epid" || true
  pkill -INT -P "$bpid" || true; wait "$bpid" || true
  local eps p50 p95 p99
  eps=$(grep -o '[0-9]* events/s' "$OUT/load.log" | awk '{print $1}')
  read -r p50 p95 p99 < <(sed -n 's/.*p50 \([^,]*\), p95 \([^,]*\), p99 \([^,]*\),.*/\1 \2 \3/p' "$OUT/load.log")
  cpu() { awk '{printf "%.1f s CPU, %d MB", $2+$3, $4/1024}' "$OUT/$1.time"; }
  echo "| $mode | $eps | $p50 | $p95 | $p99 | $(cpu load) | $(cpu edge) | $(cpu broker) |"
}

echo "## Stream edge: load → gRPC → Kafka (embedded broker), $DURATION per run, scale $SCALE data set"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(go version | awk '{print $3}')"
echo
echo "| mode | events/s | ack p50 | ack p95 | ack p99 | load | edge (nexus stream serve) | broker |"
echo "|---|---|---|---|---|---|---|---|"
for i in 1 2 3; do run "client streams (500/batch, 4 streams)"; done
for i in 1 2 3; do run "unary, 1 event/call, 2,000 calls/s" --unary --batch 1 --rate 2000 --concurrency 8; done
echo
echo "Latency is per call: for client streams, a stream of 20 batches (10,000 events) is acknowledged once."

echo
echo "## End to end: nexus stream demo (broker, edge, worker in one process; scale 0.2)"
echo
echo '```'
rm -rf "$OUT/demo-lake"
/usr/bin/time -f "%e s wall, %U+%S s CPU, %M KB peak RSS" "$N" stream demo --lake "$OUT/demo-lake" --data "$OUT/data" --scale "$SCALE" --seed 1 2>&1 | grep -E "events streamed|run .* (succeeded|failed)|wall"
echo '```'
