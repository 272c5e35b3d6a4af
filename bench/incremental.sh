#!/usr/bin/env bash
# Incremental runs on a landing zone, at the given scales (default 1 and 10):
#   - the base batch (everything before 2018-07-01) built in full;
#   - one day's drop applied with `nexus run --no-reports` (gates included),
#     3 times from the same snapshot (rolled back in between): median;
#   - a full rebuild of the same data (`run --force --no-reports`): median of 3;
#   - at a scale N > 1, the same drop thinned to one order in N
#     (bench/thin_drop.py: a scale-1 drop's size) on the base: median of 3;
#   - then DROPS more days one at a time (scale 1 only): the last 3 against
#     the first 3, to show the cost of a drop does not grow with the drops
#     already applied; then drop 2 and the last drop again, in turn, 5 times
#     each (rolled back to the snapshot before each): the same comparison
#     without the machine's drift over the series.
# Prints markdown; raw logs stay in bench/out/incremental/.
#   bash bench/incremental.sh            # scales 1 and 10, 30 drops
#   DROPS=10 bash bench/incremental.sh 0.1
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
OUT=bench/out/incremental
mkdir -p "$OUT"
go build -o "$OUT/nexus" ./cmd/nexus
N="$PWD/$OUT/nexus"
DROPS=${DROPS:-30}
FROM=2018-07-01

# secs CMD...: runs CMD, prints "wall_seconds peak_rss_mb".
secs() {
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/last.log" 2>&1 || { cat "$OUT/last.log" >&2; exit 1; }
  read -r s kb < "$OUT/time.txt"
  echo "$s $((kb / 1024))"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for scale in ${@:-1 10}; do
  D="$PWD/$OUT/scale-$scale"
  rm -rf "$D"; mkdir -p "$D/arrivals"
  "$N" generate --out "$D/landing" --scale "$scale" --seed 1 --daily-from "$FROM" > /dev/null 2>&1
  mapfile -t days < <(ls -d "$D"/landing/dt=* | sort)
  L="$N --lake $D/lake"
  echo "## scale $scale ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
  echo "| step | wall (median) | peak RSS |"
  echo "|---|---:|---:|"
  ln -s "${days[0]}" "$D/arrivals/"
  read -r base rss < <(secs $L run --no-reports --source "$D/arrivals")
  echo "| base batch $(basename "${days[0]}"), full build | $base s | $rss MB |"
  current() { $L snapshots --format json | python3 -c 'import json,sys; print(max(s["id"] for s in json.load(sys.stdin)))'; }
  snap=$(current)

  ln -s "${days[1]}" "$D/arrivals/"
  drop=(); drss=0
  for rep in 1 2 3; do
    [ "$rep" -gt 1 ] && $L rollback "$snap" > /dev/null
    read -r s rss < <(secs $L run --no-reports --source "$D/arrivals")
    drop+=("$s"); drss=$rss
  done
  $L run --no-reports --source "$D/arrivals" --log-level info 2> "$OUT/drop-$scale.log" > /dev/null || true
  one=$(printf '%s\n' "${drop[@]}" | median)
  echo "| one drop $(basename "${days[1]}") (runs: ${drop[*]}) | $one s | $drss MB |"
  full=()
  for rep in 1 2 3; do
    read -r s rss < <(secs $L run --no-reports --force --source "$D/arrivals")
    full+=("$s")
  done
  fm=$(printf '%s\n' "${full[@]}" | median)
  echo "| full rebuild, same data (runs: ${full[*]}) | $fm s | $rss MB |"
  echo "| **full rebuild ÷ one drop** | **$(python3 -c "print(round($fm/$one, 1))")×** | |"
  [ "$scale" = "1" ] && one1=$one
  if [[ "$scale" =~ ^[0-9]+$ ]] && [ "$scale" -gt 1 ]; then
    # The same day thinned to one order in $scale: a drop of a scale-1
    # drop's size on this lake, to tell what grows with the lake from what
    # grows with the drop.
    mkdir -p "$D/arrivals-thin"
    ln -sfn "${days[0]}" "$D/arrivals-thin/"
    python3 bench/thin_drop.py "${days[1]}" "$D/arrivals-thin/$(basename "${days[1]}")" "$scale" > "$OUT/thin-$scale.txt"
    thin=()
    for rep in 1 2 3; do
      $L rollback "$snap" > /dev/null
      read -r s rss < <(secs $L run --no-reports --source "$D/arrivals-thin")
      thin+=("$s")
    done
    tm=$(printf '%s\n' "${thin[@]}" | median)
    echo "| the same drop thinned to one order in $scale ($(grep orders_dataset "$OUT/thin-$scale.txt" | cut -d' ' -f2) orders; runs: ${thin[*]}) | $tm s | $rss MB |"
    if [ -n "${one1:-}" ]; then
      echo "| **one drop ÷ scale 1's one drop** | **$(python3 -c "print(round($one/$one1, 1))")×** | |"
      echo "| **thinned drop ÷ scale 1's one drop** | **$(python3 -c "print(round($tm/$one1, 1))")×** | |"
    fi
  fi

  if [ "$scale" = "1" ] || [ "$scale" = "${SERIES_SCALE:-1}" ]; then
    times=()
    last=$((DROPS < ${#days[@]} - 1 ? DROPS : ${#days[@]} - 1))
    before2=$(current)
    for ((i = 2; i <= last; i++)); do
      [ "$i" -eq "$last" ] && beforeLast=$(current)
      ln -s "${days[$i]}" "$D/arrivals/"
      read -r s rss < <(secs $L run --no-reports --source "$D/arrivals")
      times+=("$s")
    done
    n=${#times[@]}
    if [ "$n" -ge 6 ]; then
      first=$(printf '%s\n' "${times[@]:0:3}" | median)
      lastm=$(printf '%s\n' "${times[@]:$((n - 3)):3}" | median)
      echo "| drops 2..$last one at a time (each: ${times[*]}) | first 3: $first s, last 3: $lastm s | $rss MB |"
      echo "| **drop $last ÷ drop 2 (medians of 3)** | **$(python3 -c "print(round($lastm/$first, 2))")×** | |"
      files=$($L query --format csv "SELECT count(*) FROM (SELECT DISTINCT filename FROM read_parquet('$D/lake/bronze/orders/*/*/*.parquet', filename=true))" | tail -1)
      echo "| files on disk under bronze/orders after $last drops | $files | |"
      # The machine's speed drifts over a series: the same two drops again,
      # in turn on the same lake (rolled back to the snapshot before each).
      mkdir -p "$D/arrivals2"
      for ((i = 0; i <= 2; i++)); do ln -sfn "${days[$i]}" "$D/arrivals2/"; done
      a2=(); aL=()
      for rep in 1 2 3 4 5; do
        $L rollback "$before2" > /dev/null
        read -r s _ < <(secs $L run --no-reports --source "$D/arrivals2"); a2+=("$s")
        $L rollback "$beforeLast" > /dev/null
        read -r s _ < <(secs $L run --no-reports --source "$D/arrivals"); aL+=("$s")
      done
      m2=$(printf '%s\n' "${a2[@]}" | median); mL=$(printf '%s\n' "${aL[@]}" | median)
      echo "| drop 2 and drop $last again, in turn (drop 2: ${a2[*]}; drop $last: ${aL[*]}) | drop 2: $m2 s, drop $last: $mL s | |"
      echo "| **drop $last ÷ drop 2, in turn (medians of 5)** | **$(python3 -c "print(round($mL/$m2, 2))")×** | |"
    fi
  fi
  echo
done
