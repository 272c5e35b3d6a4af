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
#   (run from the directory that holds LZ: the links take $PWD). Each run
#   rolls the lake back first, a new snapshot whose id the script writes to
#   DIR/base; nothing is deleted, so the lake's history grows by two
#   snapshots per run. A failed run stops the script with its output.
#   bash bench/drop_ab.sh DIR 7 ./old-nexus ./new-nexus
set -euo pipefail
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
D=${1:?DIR}; R=${2:?ROUNDS}; shift 2
[ -s "$D/base" ] || { echo "no $D/base: see the comment at the top of $0" >&2; exit 1; }
out=$(mktemp)
i=0; for n in "$@"; do i=$((i+1)); printf ' %s' "[$i] wall/CPU s"; done; echo
for _ in $(seq 1 "$R"); do
  line=""
  for n in "$@"; do
    "$n" --lake "$D/lake" rollback "$(cat "$D/base")" >/dev/null
    # The rollback is a new snapshot: the next run starts from it.
    "$n" --lake "$D/lake" snapshots --format json | python3 -c 'import json,sys; print(max(s["id"] for s in json.load(sys.stdin)))' > "$D/base"
    if ! /usr/bin/time -f "%e %U %S" -o "$out.t" "$n" --lake "$D/lake" run --no-reports --source "$D/arrivals" >"$out.log" 2>&1; then
      echo "$n failed:" >&2; cat "$out.log" >&2; exit 1
    fi
    line="$line $(awk '{printf "%.2f/%.2f", $1, $2+$3}' "$out.t")"
  done
  echo "$line" | tee -a "$out"
done
python3 - "$out" "$@" <<'PY'
import sys, statistics as s
rows = [l.split() for l in open(sys.argv[1])]
for i, (name, c) in enumerate(zip(sys.argv[2:], zip(*rows)), 1):
    w = [float(x.split('/')[0]) for x in c]; u = [float(x.split('/')[1]) for x in c]
    print(f"[{i}] {name}: wall median {s.median(w):.2f} s, CPU median {s.median(u):.2f} s")
PY
rm -f "$out" "$out.t" "$out.log"
