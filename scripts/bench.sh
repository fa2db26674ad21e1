#!/usr/bin/env bash
# Measures `fleet check` and `fleet compile --all` on synthetic manifests of 1,000, 10,000
# and 100,000 resources (scripts/gen_fleet.py): wall time and peak memory, as a markdown
# table on stdout. Usage: scripts/bench.sh [SIZES…]   (default: 1000 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
  else
    echo "bench.sh: /usr/bin/time is missing (apt-get install time)" >&2
    exit 1
  fi
fi

cargo build --release --quiet
fleet="$PWD/target/release/fleet"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)

# measure LABEL CMD…: runs CMD under /usr/bin/time -v; prints "seconds|peak MiB|exit".
measure() {
  local log="$work/time.log" status=0
  /usr/bin/time -v -o "$log" "$@" >/dev/null 2>"$work/stderr" || status=$?
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
  # h:mm:ss or m:ss(.cc) -> seconds
  local secs
  secs=$(awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$wall")
  printf '%s|%s|%s' "$secs" "$(awk '{ printf "%.1f", $1 / 1024 }' <<<"$rss")" "$status"
}

echo "fleet $("$fleet" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| resources | manifest | check (s) | check peak (MiB) | compile --all (s) | compile --all peak (MiB) | exit codes |"
echo "|---:|---:|---:|---:|---:|---:|---|"
for n in "${sizes[@]}"; do
  manifest="$work/gen-$n.fleet"
  python3 scripts/gen_fleet.py "$n" "$manifest"
  size=$(du -h "$manifest" | cut -f1)
  IFS='|' read -r c_s c_m c_x <<<"$(measure "$fleet" check "$manifest")"
  rm -rf "$work/out"
  IFS='|' read -r a_s a_m a_x <<<"$(measure "$fleet" compile --all --out "$work/out" "$manifest")"
  echo "| $n | $size | $c_s | $c_m | $a_s | $a_m | check $c_x, compile $a_x |"
done
