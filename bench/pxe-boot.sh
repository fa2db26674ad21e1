#!/bin/sh
# End to end (issue 16; not part of CI, run by hand as root): a QEMU machine with no disk
# contents network-boots from what `fleet provision` wrote and `fleet provision serve`
# serves, into the Debian installer, which fetches its preseed answer file.
#
# - A network namespace holds a bridge (10.77.0.1/24) and a tap device for the guest.
# - dnsmasq runs there with the generated dnsmasq.conf (static DHCP host, TFTP tree).
# - `fleet provision serve` listens on 10.77.0.1:8080.
# - qemu-system-x86_64 (software emulation, no KVM) boots from the network (its e1000's
#   iPXE ROM), gets the node's address, loads pxelinux.0, the node's pxelinux entry, and
#   the installer's kernel and initrd from Debian's debian-installer-12-netboot-amd64.
# - The installer starts with `auto=true priority=critical url=...` and fetches
#   /answers/pxe01; the script stops there and prints the timeline.
#
# Needs: dnsmasq, qemu-system-x86, pxelinux, syslinux-common,
# debian-installer-12-netboot-amd64 (apt-get install them). Usage:
#   sudo sh bench/pxe-boot.sh [FLEET_BINARY] [TIMEOUT_SECONDS]
set -eu
fleet=$(realpath "${1:-target/release/fleet}")
limit=${2:-1200}
di=/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64
for need in /usr/sbin/dnsmasq /usr/bin/qemu-system-x86_64 "$di/linux" "$di/initrd.gz" \
    /usr/lib/PXELINUX/pxelinux.0 /usr/lib/syslinux/modules/bios/ldlinux.c32; do
  [ -e "$need" ] || { echo "pxe-boot.sh: $need is missing" >&2; exit 2; }
done
ns=fleet-pxe-$$
work=$(mktemp -d /tmp/fleet-pxe.XXXXXX)
chmod 755 "$work"
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM

start=$(date +%s.%N)
stamp() { printf '%7.1f s  %s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$1"; }

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add br0 type bridge
ip -n "$ns" addr add 10.77.0.1/24 dev br0
ip -n "$ns" link set br0 up
ip -n "$ns" tuntap add dev tap0 mode tap
ip -n "$ns" link set tap0 master br0
ip -n "$ns" link set tap0 up

cat > "$work/preseed.j2" <<'J2'
# {{ node }}: fetched from {{ server.answer }}
d-i debian-installer/locale string en_US.UTF-8
d-i keyboard-configuration/xkb-keymap select us
d-i netcfg/get_hostname string {{ provision.hostname }}
d-i netcfg/get_domain string example.net
d-i preseed/late_command string wget --post-data= -O- {{ server.done }}
J2
cat > "$work/site.fleet" <<FLEET
provision "debian12" {
  kernel      = "$di/linux"
  initrd      = "$di/initrd.gz"
  kind        = preseed
  answer      = template("preseed.j2")
  kernel_args = "auto=true priority=critical console=ttyS0,115200n8 DEBIAN_FRONTEND=text"
}
node "pxe01" {
  provision {
    mac = "52:54:00:77:00:11", ip = "10.77.0.11/24", gateway = "10.77.0.1", dns = ["10.77.0.1"]
    profile = "debian12"
  }
}
FLEET
"$fleet" provision --out "$work/out" --server-ip 10.77.0.1 --http http://10.77.0.1:8080 \
  "$work/site.fleet"
/usr/sbin/dnsmasq --test -C "$work/out/dnsmasq.conf"
stamp "fleet provision wrote $work/out"

ip netns exec "$ns" /usr/sbin/dnsmasq --keep-in-foreground --conf-file="$work/out/dnsmasq.conf" \
  --interface=br0 --bind-interfaces --user=root --log-dhcp \
  --log-facility="$work/dnsmasq.log" --pid-file="$work/dnsmasq.pid" &
pids="$pids $!"
ip netns exec "$ns" "$fleet" provision serve --out "$work/out" --listen 10.77.0.1:8080 \
  2> "$work/serve.log" &
pids="$pids $!"
sleep 1
stamp "dnsmasq (DHCP, TFTP) and fleet provision serve are up in namespace $ns"

ip netns exec "$ns" qemu-system-x86_64 -machine pc,accel=tcg -m 1024 -smp 1 -boot n \
  -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
  -device e1000,netdev=n0,mac=52:54:00:77:00:11 \
  -display none -monitor none -serial "file:$work/console.log" &
pids="$pids $!"
stamp "qemu started (software emulation), booting from the network"

seen=""
note() {
  case " $seen " in *" $1 "*) return ;; esac
  if grep -q -- "$2" "$3" 2>/dev/null; then seen="$seen $1"; stamp "$4"; fi
}
deadline=$(( $(date +%s) + limit ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  note ack "DHCPACK(br0) 10.77.0.11 52:54:00:77:00:11" "$work/dnsmasq.log" \
    "DHCP: pxe01 got 10.77.0.11"
  note pxe "dnsmasq-tftp.*sent .*pxelinux.0" "$work/dnsmasq.log" "TFTP: pxelinux.0 sent"
  note cfg "dnsmasq-tftp.*sent .*pxelinux.cfg/01-52-54-00-77-00-11" "$work/dnsmasq.log" \
    "TFTP: pxe01's boot entry (pxelinux.cfg/01-52-54-00-77-00-11) sent"
  note kernel "dnsmasq-tftp.*sent .*debian12/linux" "$work/dnsmasq.log" \
    "TFTP: the installer's kernel sent"
  note initrd "dnsmasq-tftp.*sent .*debian12/initrd" "$work/dnsmasq.log" \
    "TFTP: the installer's initrd sent"
  note boot "Linux version" "$work/console.log" "console: the installer's kernel is running"
  if grep -q "GET /answers/pxe01 200" "$work/serve.log" 2>/dev/null; then
    stamp "HTTP: the installer fetched its preseed from fleet provision serve"
    echo
    echo "fleet provision serve's log:"
    sed 's/^/  /' "$work/serve.log"
    echo "the node's DHCP and TFTP, from dnsmasq's log:"
    grep -E "DHCPACK|dnsmasq-tftp.*sent " "$work/dnsmasq.log" | sed 's/^/  /'
    exit 0
  fi
  sleep 1
done
echo "pxe-boot.sh: no answer-file fetch within $limit s; the last console lines:" >&2
tail -20 "$work/console.log" >&2 || true
tail -20 "$work/dnsmasq.log" >&2 || true
exit 1
