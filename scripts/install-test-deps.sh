#!/bin/sh
# Installs the Debian tools the apply tests drive for real (idempotent; run as root):
# dpkg/dpkg-deb/dpkg-scanpackages and apt-get for the package provider, useradd & co. for
# the user and group providers, systemctl for `systemctl --root` (service enable).
set -eu
missing=""
command -v dpkg-deb >/dev/null 2>&1 || missing="$missing dpkg"
command -v dpkg-scanpackages >/dev/null 2>&1 || missing="$missing dpkg-dev"
command -v apt-get >/dev/null 2>&1 || missing="$missing apt"
command -v useradd >/dev/null 2>&1 || [ -x /usr/sbin/useradd ] || missing="$missing passwd"
command -v systemctl >/dev/null 2>&1 || missing="$missing systemd"
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
