#!/usr/bin/env bash
# check_mta_backlog: a private Postfix instance's home and an Exim unpacked into a
# private tree (Exim's Debian package conflicts with postfix through apt).
# Idempotent and fast when already done. Runs as root (tests/run calls it).
set -euo pipefail
top=/var/lib/nagios_ipc-test
mkdir -p "$top"
chmod 0755 "$top"

# --- Postfix: the tests run private instances under $top/postfix-*/etc (postqueue -c as
# a non-root user needs them listed in the default main.cf's alternate_config_directories).
pf_dirs="$top/postfix-it/etc $top/postfix-bench/etc $top/postfix-timeout/etc"
if [ ! -e /etc/postfix/main.cf ]; then
    cp /usr/share/postfix/main.cf.dist /etc/postfix/main.cf.dist-copy 2>/dev/null || true
    rm -f /etc/postfix/main.cf.dist-copy
    cat > /etc/postfix/main.cf <<CONF
# written by nagios_ipc tests/provision/mta.sh: the system instance stays stopped
compatibility_level = 3.6
inet_interfaces = loopback-only
mydestination =
relayhost = [127.0.0.1]:2525
smtp_dns_support_level = disabled
maillog_file = /var/log/postfix.log
CONF
fi
current=$(postconf -c /etc/postfix -h alternate_config_directories 2>/dev/null || true)
if [ "$current" != "$pf_dirs" ]; then
    postconf -c /etc/postfix -e "alternate_config_directories = $pf_dirs"
fi
[ -e /etc/postfix/master.cf ] || cp /usr/share/postfix/master.cf.dist /etc/postfix/master.cf

# --- Exim 4 unpacked (not installed) into $top/exim-root
exim_root=$top/exim-root
if [ ! -x "$exim_root/usr/sbin/exim4" ]; then
    work=$(mktemp -d)
    chmod 0755 "$work"  # apt-get download runs as _apt
    (cd "$work" && apt-get download -qq exim4-daemon-light exim4-base exim4-config >/dev/null)
    mkdir -p "$exim_root"
    for deb in "$work"/*.deb; do dpkg -x "$deb" "$exim_root"; done
    rm -rf "$work"
fi
# Exim drops root for -C unless called by root, or by the Exim user with a file in its
# trusted-config list: list the test configs there, so that the deliveries Exim re-executes
# as Debian-exim (bounces) keep working.
trusted=$(strings "$exim_root/usr/sbin/exim4" | grep -m1 '^/etc/exim4/trusted_configs$' || true)
if [ -n "$trusted" ]; then
    mkdir -p /etc/exim4
    want="$top/exim-it/exim.conf
$top/exim-bench/exim.conf"
    if [ ! -e "$trusted" ] || [ "$(cat "$trusted")" != "$want" ]; then
        printf '%s\n' "$want" > "$trusted"
        chmod 0644 "$trusted"
    fi
fi
chown root:root "$exim_root/usr/sbin/exim4"
chmod 4755 "$exim_root/usr/sbin/exim4"
id Debian-exim >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin Debian-exim
echo "postfix $(postconf -h mail_version 2>/dev/null); exim in $exim_root"
