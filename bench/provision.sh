#!/bin/sh
# `fleet provision` for N nodes (default 1000 and 10000): wall time of the run, a second
# run over the existing tree, and `dnsmasq --test` on the result. Usage:
#   bench/provision.sh [FLEET_BINARY] [N...]
set -eu
fleet=${1:-target/release/fleet}
shift || true
sizes=${*:-"1000 10000"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/nb"
echo k > "$work/nb/linux"; echo i > "$work/nb/initrd.gz"
printf '| nodes | first run (s) | second run (s) | dnsmasq --test (s) |\n|---|---|---|---|\n'
for n in $sizes; do
  python3 - "$n" > "$work/site.fleet" <<'PY'
import sys
n = int(sys.argv[1])
print('provision "deb" { kernel = "nb/linux", initrd = "nb/initrd.gz", kind = preseed,')
print('  answer = "d-i netcfg/get_hostname string ${provision.hostname}\\n" }')
for i in range(n):
    mac = "52:54:%02x:%02x:%02x:%02x" % (i >> 24 & 255, i >> 16 & 255, i >> 8 & 255, i & 255)
    ip = "10.%d.%d.%d/8" % ((i + 2) >> 16 & 255, (i + 2) >> 8 & 255, (i + 2) & 255)
    print('node "n%05d" { provision { mac = "%s", ip = "%s", profile = "deb" } }' % (i, mac, ip))
PY
  rm -rf "$work/out"
  t0=$(date +%s.%N); "$fleet" provision --out "$work/out" --server-ip 10.0.0.1 "$work/site.fleet" 2>/dev/null
  t1=$(date +%s.%N); "$fleet" provision --out "$work/out" --server-ip 10.0.0.1 "$work/site.fleet" 2>/dev/null
  t2=$(date +%s.%N); /usr/sbin/dnsmasq --test -C "$work/out/dnsmasq.conf" 2>/dev/null
  t3=$(date +%s.%N)
  printf '| %s | %.2f | %.2f | %.2f |\n' "$n" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t2" | bc)"
done
