#!/usr/bin/env bash
# A/B of one drop between binaries, taken in turn so that a noisy neighbour
# slows them alike: each binary applies DIR/arrivals (`run --no-reports`) to
# the lake DIR/lake from the snapshot in DIR/base, rolled back before every
# run; prints wall/CPU (user+sys) per run, then the medians.
#   Prepare DIR once: a landing zone's base batch built into DIR/lake, its
#   snapshot id in DIR/base, and DIR/arrivals holding the base batch and the
#   drop to apply (links into the landing zone), e.g.
#     nexus generate --out LZ --scale 1 --daily-from 2018-07-01
#     mkdir -p DIR/arrivals && ln -s $PWD/LZ/dt=2018-06-30 DIR/arrivals/
#     nexus --lake DIR/lake run --no-reports --source DIR/arrivals
#     nexus --lake DIR/lake snapshots --format json |
#       python3 -c 'import json,sys; print(max(s["id"] for s in json.load(sys.stdin)))' > DIR/base
#     ln -s $PWD/LZ/dt=2018-07-01 DIR/arrivals/
#   bash bench/drop_ab.sh DIR 7 ./old-nexus ./new-nexus
set -euo pipefail
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
D=${1:?DIR}; R=${2:?ROUNDS}; shift 2
[ -s "$D/base" ] || { echo "no $D/base: see the comment at the top of $0" >&2; exit 1; }
out=$(mktemp)
for r in $(seq 1 "$R"); do
  line=""
  for n in "$@"; do
    "$n" --lake "$D/lake" rollback "$(cat "$D/base")" >/dev/null
    # The rollback is a new snapshot: the next run starts from it.
    "$n" --lake "$D/lake" snapshots --format json | python3 -c 'import json,sys; print(max(s["id"] for s in json.load(sys.stdin)))' > "$D/base"
    /usr/bin/time -f "%e %U %S" -o "$out.t" "$n" --lake "$D/lake" run --no-reports --source "$D/arrivals" >/dev/null 2>&1 || echo "FAIL $n" >&2
    line="$line $(awk '{printf "%.2f/%.2f", $1, $2+$3}' "$out.t")"
  done
  echo "$line" | tee -a "$out"
done
python3 - "$out" "$@" <<'PY'
import sys, statistics as s
rows = [l.split() for l in open(sys.argv[1])]
for name, c in zip(sys.argv[2:], zip(*rows)):
    w = [float(x.split('/')[0]) for x in c]; u = [float(x.split('/')[1]) for x in c]
    print(f"{name}: wall median {s.median(w):.2f} s, CPU median {s.median(u):.2f} s")
PY
rm -f "$out" "$out.t"
