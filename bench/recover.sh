#!/bin/bash
# The recovery drill (issue 17): "everything but the data back within 10 minutes".
# Debootstraps a Debian 12 root from the Debian mirror, applies okbuy's web01 into it with the
# real packages (nginx, php-fpm, ...) and the shop release, proves a second apply changes
# nothing, checks the result chrooted, and prints each phase's wall time. Not run by CI.
# docs/recovery.md says what it does and what it measured.
#
#   bench/recover.sh [--mirror URL] [--dir DIR] [--keep] [--serve] [--fleet BINARY]
#
#   --mirror URL    the Debian mirror (default http://deb.debian.org/debian); the root's own
#                   sources.list names it too
#   --dir DIR       the scratch directory, new or empty (default: a new one under /tmp); the
#                   root is DIR/root, the logs DIR/logs
#   --keep          leave the scratch directory (the root, the logs) behind; default: removed
#   --serve         also (f): start php-fpm and nginx chrooted in a private network and pid
#                   namespace, fetch the shop page over its loopback, stop them
#   --fleet BINARY  use this fleet binary; default: `cargo build --release` in this checkout
#
# Needs root (debootstrap, chroot, mounts). Installs debootstrap with apt-get when missing.
# The root never starts a daemon: usr/sbin/policy-rc.d exits 101 (as image builders do), and
# (f)'s daemons live in namespaces that die with it. The mounts are made in a private mount
# namespace (the script re-executes itself under `unshare --mount`) and unmounted on exit.
set -eu -o pipefail

args=("$@")
mirror=http://deb.debian.org/debian
suite=bookworm
node=web01
dir=""
keep=0
serve=0
fleet=""
usage() { sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --mirror) mirror=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --serve) serve=1; shift ;;
    --fleet) fleet=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "recover.sh: unknown argument $1" >&2; usage 2 >&2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "recover.sh: needs root (debootstrap, chroot, mount)" >&2; exit 2; }

# Mounts in a mount namespace of our own: none is seen by the host, and all vanish with us
# even if we are killed before the trap runs.
if [ -z "${FLEET_RECOVER_NS:-}" ] && command -v unshare >/dev/null; then
  FLEET_RECOVER_NS=1 exec unshare --mount --propagation private -- bash "$0" "${args[@]}"
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$dir" ]; then
  dir=$(mktemp -d /tmp/fleet-recover.XXXXXX)
else
  # It is removed at the end: only a new or empty directory is taken.
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || { echo "recover.sh: $dir is not empty" >&2; exit 2; }
  dir=$(cd "$dir" && pwd)
fi
root=$dir/root
logs=$dir/logs
mkdir -p "$logs"

# Everything mounted under the root, deepest first.
mounts_under_root() {
  awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
cleanup() {
  local rc=$?
  set +e
  for m in $(mounts_under_root); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  if [ -n "$(mounts_under_root)" ]; then
    echo "recover.sh: still mounted under $root, leaving $dir" >&2
  elif [ "$keep" = 1 ]; then
    echo "recover.sh: kept $dir (root: $root, logs: $logs)"
  else
    rm -rf --one-file-system "$dir"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
names=()
secs=()
results=()
# phase NAME FUNCTION: runs FUNCTION (errexit on, in a subshell), prints and records its time;
# a failed phase ends the drill after the table.
phase() {
  local name=$1 t0 t1 s rc
  shift
  echo "== $name"
  t0=$(now)
  set +e
  ( set -e; "$@" )
  rc=$?
  set -e
  t1=$(now)
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  names+=("$name")
  secs+=("$s")
  if [ $rc = 0 ]; then results+=(ok); else results+=("FAILED (exit $rc)"); fi
  echo "phase $name: ${s}s ${results[-1]}"
  if [ $rc != 0 ]; then
    table
    exit 1
  fi
}
table() {
  local i total=0
  echo
  echo "| phase | wall (s) | result |"
  echo "|---|---:|---|"
  for i in "${!names[@]}"; do
    echo "| ${names[$i]} | ${secs[$i]} | ${results[$i]} |"
    case ${names[$i]} in
      build*) ;;
      *) total=$(awk -v a="$total" -v b="${secs[$i]}" 'BEGIN { printf "%.1f", a + b }') ;;
    esac
  done
  echo "| **recovery (all but build)** | **$total** | $(awk -v t="$total" 'BEGIN { print (t <= 600 ? "within" : "OVER") }') 10 minutes |"
}

# (a) A Debian 12 root, as the installer's minimal base would leave it.
bootstrap() {
  if ! command -v debootstrap >/dev/null; then
    apt-get install -y --no-install-recommends debootstrap >"$logs/apt-debootstrap.log" 2>&1
  fi
  if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$logs/debootstrap.log" 2>&1; then
    tail -20 "$logs/debootstrap.log"
    return 1
  fi
  tail -1 "$logs/debootstrap.log"
}

# (b) The fleet binary (cargo does nothing when it is up to date).
build() {
  (cd "$repo" && cargo build --release 2>&1 | tail -3)
}

# Before fleet: no daemon may start in the root (maintainer scripts call invoke-rc.d, which
# asks policy-rc.d; 101 = "action forbidden"), and the scripts get a /proc. The root shares
# this machine's kernel, so /proc/sys is a scratch copy (a tmpfs holding the values of
# /proc/sys/vm): the stdlib sysctl's refresh (`sysctl -w vm.swappiness=10`, run chrooted)
# then changes a file of the drill's, never this machine's kernel.
prepare() {
  printf '#!/bin/sh\n# recover.sh: no daemon starts in this root.\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc"
  mount -t tmpfs -o mode=0555,size=1m sysctl-scratch "$root/proc/sys"
  mkdir "$root/proc/sys/vm"
  for f in /proc/sys/vm/*; do
    [ -f "$f" ] && [ -r "$f" ] && cat "$f" >"$root/proc/sys/vm/${f##*/}" 2>/dev/null || true
  done
  host_vm >"$logs/host-vm.before"
  host_logs >"$logs/host-logs.before"
  mounts_under_root
}
# This machine's vm sysctls (what the root's sysctl refresh must not reach).
host_vm() { grep -r . /proc/sys/vm 2>/dev/null | sort || true; }
# The sizes of this machine's package logs (what installs into the root must not write).
host_logs() {
  local f
  for f in /var/log/dpkg.log /var/log/apt/history.log /var/log/apt/term.log /var/log/alternatives.log; do
    echo "$f $(stat -c %s "$f" 2>/dev/null || echo none)"
  done
}

apply_args() {
  echo apply --root "$root" --chroot --node "$node" --detailed-exitcodes "$repo/examples/okbuy/site.fleet"
}

# (c) The node, for real: packages from the mirror, users, files, the release.
apply_first() {
  local rc=0
  # shellcheck disable=SC2046
  "$fleet" $(apply_args) >"$logs/apply1.log" 2>&1 || rc=$?
  grep -E '^(!|·) ' "$logs/apply1.log" || true
  tail -1 "$logs/apply1.log"
  # 2: changes and no failure.
  [ $rc = 2 ] || { echo "first apply: exit $rc (want 2), see $logs/apply1.log"; tail -30 "$logs/apply1.log"; return 1; }
}

# (d) The proof the node is back: a second apply changes nothing.
apply_again() {
  local rc=0
  # shellcheck disable=SC2046
  "$fleet" $(apply_args) >"$logs/apply2.log" 2>&1 || rc=$?
  tail -1 "$logs/apply2.log"
  [ $rc = 0 ] || { echo "second apply: exit $rc (want 0), see $logs/apply2.log"; grep -vE '^ *$' "$logs/apply2.log" | tail -30; return 1; }
}

# (e) The result, checked with the root's own programs.
check() {
  chroot "$root" nginx -t 2>&1
  chroot "$root" php-fpm8.2 -t 2>&1
  local cur rel
  cur=$(readlink "$root/srv/shop/current")
  rel=$(chroot "$root" readlink -f /srv/shop/current)
  echo "current -> $cur ($rel)"
  case $rel in /srv/shop/releases/*) ;; *) echo "current is not a release"; return 1 ;; esac
  [ -f "$root$rel/public/index.php" ] || { echo "no public/index.php in $rel"; return 1; }
  chroot "$root" php -l "$rel/public/index.php"
  local mode
  mode=$(chroot "$root" stat -c '%a %U:%G' /srv/shop/shared/config.inc)
  echo "config.inc: $mode"
  [ "$mode" = "640 root:shop" ] || { echo "config.inc should be 640 root:shop"; return 1; }
  [ -L "$root$rel/config.inc" ] || [ -f "$root$rel/config.inc" ] || { echo "no config.inc in the release"; return 1; }
  chroot "$root" dpkg-query -W -f '${Package} ${Version} ${Status}\n' nginx php8.2-fpm php8.2-mysql php8.2-memcached chrony openssh-server
  contained
}

# Nothing of the root's reached this machine: no process runs inside the root, the vm
# sysctls are as they were (the refresh wrote the scratch /proc/sys), and dpkg and apt logged
# into the root, not here.
contained() {
  local p left=""
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && left="$left ${p#/proc/}"
  done
  [ -z "$left" ] || { echo "processes running inside the root:$left"; ps -o pid,args -p "${left# }"; return 1; }
  host_vm | diff "$logs/host-vm.before" - || { echo "this machine's vm sysctls changed"; return 1; }
  host_logs | diff "$logs/host-logs.before" - || { echo "this machine's package logs were written"; return 1; }
  echo "contained: no process inside the root; this machine's vm sysctls and package logs unchanged" \
    "(the root's scratch vm.swappiness: $(cat "$root/proc/sys/vm/swappiness"), this machine's: $(cat /proc/sys/vm/swappiness))"
}

# (f) Optional: the shop page, served by the root's php-fpm and nginx in namespaces of their
# own (a private network with only loopback, a pid namespace whose end kills them all).
serve_page() {
  unshare --net --pid --mount --fork --kill-child bash -s "$root" "$logs" <<'EOF'
set -eu
root=$1 logs=$2
ip link set lo up
mount -t proc proc "$root/proc"
mkdir -p "$root/run/php"
chroot "$root" php-fpm8.2 --daemonize --fpm-config /etc/php/8.2/fpm/php-fpm.conf
chroot "$root" nginx
ok=1
# The shop's pool (php_fpm::pool "shop") listens on its own socket.
sock=$root/run/php/php8.2-fpm-shop.sock
for _ in $(seq 50); do [ -S "$sock" ] && ok=0 && break; sleep 0.1; done
[ $ok = 0 ] || { echo "php-fpm did not make $sock"; exit 1; }
code=$(curl -s -o "$logs/page.html" -w '%{http_code}' --max-time 5 -H 'Host: www.okbuy.com' http://127.0.0.1/) || true
echo "GET http://www.okbuy.com/ (loopback, private netns): $code"
head -5 "$logs/page.html"
chroot "$root" nginx -s quit 2>/dev/null || true
kill "$(cat "$root/run/php/php8.2-fpm.pid")" 2>/dev/null || true
cp "$root/var/log/nginx/error.log" "$logs/nginx-error.log" 2>/dev/null || true
[ "$code" = 200 ] || { tail -5 "$logs/nginx-error.log" 2>/dev/null; exit 1; }
EOF
  contained
}

echo "recovery drill: $suite from $mirror into $root, node $node ($(nproc) cores, load$(uptime | sed 's/.*load average//'))"
phase debootstrap bootstrap
if [ -z "$fleet" ]; then
  phase build build
  fleet=$repo/target/release/fleet
fi
phase prepare prepare
phase apply apply_first
phase apply-again apply_again
phase check check
if [ "$serve" = 1 ]; then
  phase serve serve_page
fi
table
