#!/bin/sh
# Installs the Debian tools the apply tests drive for real (idempotent; run as root):
# dpkg/dpkg-deb/dpkg-scanpackages and apt-get for the package provider, useradd & co. for
# the user and group providers, systemctl for `systemctl --root` (service enable), git for
# release repositories, graphviz so `fleet graph` output is fed to a real `dot`, python3 for
# the conformance `verify` script, script(1) (bsdutils) to run `fleet apply` on a pty;
# for `fleet provision`: dnsmasq (`dnsmasq --test`, the DHCP/TFTP exchange), busybox
# (udhcpc and tftp clients), iproute2 (network namespaces), libvirt-clients
# (virt-xml-validate, virsh), debian-installer-12-netboot-amd64 (the kernel and initrd
# examples/okbuy's profiles name), pxelinux and syslinux-common (the BIOS boot files copied into
# the TFTP tree), grub2-common (grub-reboot, which `provision reinstall` runs on the node); for `fleet provision vm`: libvirt-daemon-system (libvirtd and virtlogd, which
# the test starts by hand: no systemd needed), qemu-system-x86 (the domains, type qemu:
# software emulation) and qemu-utils (qemu-img). libvirt-daemon-system is installed with
# --force-confnew so that a machine with old /etc/libvirt files gets the package's.
# for the remote tests: curl and openssl (clients of `fleet serve`), PostgreSQL (a private
# cluster: scripts/test-services.sh), nginx with the stream module (TLS passthrough), OpenSSH
# (a private sshd on loopback for `fleet run`; the test starts and stops it); sudo (the
# stdlib sudo module's rules are checked with the real `visudo -cf`); chrony (`chronyd -p`
# checks the stdlib ntp module's chrony.conf); nagios4, ganglia-monitor and gmetad (the stdlib
# nagios and ganglia modules' configs are checked with `nagios4 -v`, and by a real gmond and
# gmetad the test itself runs on loopback); php8.2-fpm (the stdlib php_fpm pools pass
# `php-fpm8.2 -t`), mariadb-server and mariadb-client (the stdlib mysql module is applied
# against a private server the test starts and stops). Daemons are installed for their
# validators only: a policy-rc.d that refuses every start keeps their packages from
# starting them, and those whose postinst enables them at boot are disabled again; puppet
# and the upstream Puppet modules the ports in tests/ports/ are compared against (`puppet
# catalog compile`, offline: tests/suite/ports.rs).
set -eu
missing=""
command -v dpkg-deb >/dev/null 2>&1 || missing="$missing dpkg"
command -v dpkg-scanpackages >/dev/null 2>&1 || missing="$missing dpkg-dev"
command -v apt-get >/dev/null 2>&1 || missing="$missing apt"
command -v useradd >/dev/null 2>&1 || [ -x /usr/sbin/useradd ] || missing="$missing passwd"
command -v systemctl >/dev/null 2>&1 || missing="$missing systemd"
command -v git >/dev/null 2>&1 || missing="$missing git"
command -v dot >/dev/null 2>&1 || missing="$missing graphviz"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
command -v script >/dev/null 2>&1 || missing="$missing bsdutils"
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing="$missing dnsmasq"
command -v busybox >/dev/null 2>&1 || missing="$missing busybox"
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing="$missing iproute2"
command -v virt-xml-validate >/dev/null 2>&1 || missing="$missing libvirt-clients"
command -v xmllint >/dev/null 2>&1 || missing="$missing libxml2-utils"
[ -x /usr/sbin/libvirtd ] && [ -x /usr/sbin/virtlogd ] || missing="$missing libvirt-daemon-system"
# Both at once: installing qemu-system-x86 (7.2) alone here removed bookworm-backports'
# qemu-utils (10.0), and qemu-img with it.
command -v qemu-system-x86_64 >/dev/null 2>&1 && command -v qemu-img >/dev/null 2>&1 ||
    missing="$missing qemu-system-x86 qemu-utils"
[ -f /usr/lib/PXELINUX/pxelinux.0 ] || missing="$missing pxelinux"
[ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ] || missing="$missing syslinux-common"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server openssh-client"
[ -x /usr/sbin/grub-reboot ] || missing="$missing grub2-common"
# examples/okbuy's install profiles name Debian's netboot kernel and initrd by path, and
# `fleet provision` copies them (tests/suite/okbuy.rs provisions the example).
[ -f /usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/linux ] ||
    missing="$missing debian-installer-12-netboot-amd64"
[ -x /usr/sbin/visudo ] || missing="$missing sudo"
[ -x /usr/sbin/chronyd ] || missing="$missing chrony"
[ -x /usr/sbin/nagios4 ] || missing="$missing nagios4"
[ -x /usr/sbin/gmond ] || missing="$missing ganglia-monitor"
[ -x /usr/sbin/gmetad ] || missing="$missing gmetad"
[ -x /usr/sbin/php-fpm8.2 ] || missing="$missing php8.2-fpm"
[ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1 || missing="$missing mariadb-server"
command -v mariadb >/dev/null 2>&1 || missing="$missing mariadb-client"
command -v puppet >/dev/null 2>&1 || missing="$missing puppet"
for module in puppetlabs-ntp saz-ssh puppetlabs-stdlib puppetlabs-concat rodjek-logrotate duritong-sysctl; do
    dpkg -s "puppet-module-$module" >/dev/null 2>&1 || missing="$missing puppet-module-$module"
done
ls /usr/lib/nginx/modules/ngx_stream_module.so >/dev/null 2>&1 || missing="$missing libnginx-mod-stream"
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    # Packages with daemons (chrony, nginx, sshd, …) start them unless policy-rc.d says no;
    # nothing the tests need may keep running, so refuse starts while installing.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -q
    # qemu-utils from another release than qemu-system-x86's (a machine with
    # bookworm-backports' 10.0) breaks qemu-system-common 7.2: take both at the version
    # qemu-system-x86 installs at (a downgrade of qemu-utils, when needed).
    case " $missing " in *" qemu-utils "*)
        qemu=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ { print $2 }')
        [ -n "$qemu" ] && [ "$qemu" != "(none)" ] &&
            missing=$(echo "$missing" | sed "s/ qemu-utils/ qemu-utils=$qemu/") ;;
    esac
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends --allow-downgrades \
        -o Dpkg::Options::=--force-confnew $missing
    # policy-rc.d refuses starts, not the postinsts' enabling at boot, and a policy-rc.d of
    # the machine's own may allow starts: stop and disable the daemons the tests run
    # privately (`systemctl disable` works without a running systemd).
    for s in mariadb php8.2-fpm nginx nagios4 ganglia-monitor gmetad chrony; do
        if [ -d /run/systemd/system ]; then
            systemctl stop "$s" >/dev/null 2>&1 || true
        elif command -v service >/dev/null 2>&1; then
            service "$s" stop >/dev/null 2>&1 || true
        fi
        systemctl disable "$s" >/dev/null 2>&1 || true
    done
fi
