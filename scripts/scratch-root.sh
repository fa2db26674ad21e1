#!/bin/sh
# A scratch root that the examples apply into for real, packages included:
#
#   scripts/scratch-root.sh /tmp/try          # makes /tmp/try/repo and /tmp/try/root
#   fleet apply --root /tmp/try/root --node web01 examples/fleet/site.fleet
#   (also: --node web01 examples/web/site.fleet, --node pg01 examples/db/site.fleet)
#
# DIR/repo is a local apt repository (a `file:` source, trusted) of stand-in packages, one
# per package the example installs, each built here with dpkg-deb and indexed with
# dpkg-scanpackages; they ship what the real ones would give the example's files and
# services to stand on (/etc/nginx/sites-enabled/, /etc/chrony/, /etc/sudoers.d/, systemd
# units). DIR/root is an image with what Debian's base-files and base-passwd give every
# machine (/etc/passwd and /etc/group with root and www-data, /srv, /root, /tmp) and nothing
# else; its
# /etc/apt/sources.list names that repository;
# dpkg and apt run on it with --root, so the host's package database is never touched.
# For your own packages, put real .deb files in DIR/repo and rerun dpkg-scanpackages (below).
# Needs dpkg-dev (dpkg-deb, dpkg-scanpackages) and apt.
set -eu
dir="${1:?usage: scripts/scratch-root.sh DIR}"
mkdir -p "$dir/repo" "$dir/root/etc/apt" "$dir/root/srv" "$dir/root/root" "$dir/root/tmp"
dir="$(cd "$dir" && pwd)"
[ -e "$dir/root/etc/passwd" ] ||
  printf 'root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n' > "$dir/root/etc/passwd"
[ -e "$dir/root/etc/group" ] || printf 'root:x:0:\nwww-data:x:33:\n' > "$dir/root/etc/group"
chmod 1777 "$dir/root/tmp"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# stub NAME [DIR…]: a package NAME 1.0 that owns each DIR; a DIR ending in .service is a
# systemd unit file instead.
stub() {
  name="$1"; shift
  src="$work/$name"
  mkdir -p "$src/DEBIAN" "$src/usr/share/doc/$name"
  printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: fleet <fleet@example.net>\nDescription: stand-in for %s (scripts/scratch-root.sh)\n' \
    "$name" "$name" > "$src/DEBIAN/control"
  echo "A stand-in package built by fleet's scripts/scratch-root.sh." > "$src/usr/share/doc/$name/README"
  for d in "$@"; do
    case "$d" in
      *.service)
        mkdir -p "$src/lib/systemd/system"
        printf '[Unit]\nDescription=%s\n\n[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=multi-user.target\n' \
          "$name" > "$src/lib/systemd/system/$d" ;;
      *) mkdir -p "$src$d" ;;
    esac
  done
  dpkg-deb --root-owner-group -b "$src" "$dir/repo/${name}_1.0_all.deb" > /dev/null
}

stub vim-tiny
stub curl
stub htop
stub unattended-upgrades
stub sudo /etc/sudoers.d
stub chrony /etc/chrony chrony.service
stub nginx /etc/nginx/sites-enabled /etc/nginx/sites-available nginx.service
stub php8.2-fpm /etc/php/8.2/fpm/pool.d php8.2-fpm.service
stub postgresql-15 /etc/postgresql/15/main/conf.d /usr/lib/postgresql/15/bin postgresql.service
stub mariadb-server /etc/mysql/mariadb.conf.d mariadb.service

(cd "$dir/repo" && dpkg-scanpackages -m . /dev/null > Packages 2> /dev/null)
echo "deb [trusted=yes] file:$dir/repo ./" > "$dir/root/etc/apt/sources.list"
echo "repository: $dir/repo"
echo "root:       $dir/root"
