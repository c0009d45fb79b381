#!/usr/bin/env bash
# check_mta_backlog, sendmail/OpenSMTPD/nullmailer: their Debian packages unpacked (never
# installed: each provides mail-transport-agent and would replace postfix) into private
# trees, one per package, so the tests can run their real listing programs (sendmail -bp,
# smtpctl show queue, nullmailer's mailq) on queues the tests build.
# Idempotent and fast when already done. Runs as root (tests/run calls it).
set -euo pipefail
top=/var/lib/nagios_ipc-test
mkdir -p "$top"
chmod 0755 "$top"
unpack() {  # unpack PACKAGE PROGRAM-INSIDE-THE-TREE
    local pkg=$1 program=$2 root=$top/$1-root work
    [ -x "$root/$program" ] && return 0
    work=$(mktemp -d)
    chmod 0755 "$work"  # apt-get download runs as _apt
    (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null)
    rm -rf "$root"
    mkdir -p "$root"
    dpkg -x "$work"/*.deb "$root"
    rm -rf "$work"
}
unpack sendmail-bin usr/libexec/sendmail/sendmail
unpack opensmtpd usr/sbin/smtpctl
unpack nullmailer usr/bin/mailq
echo "unpacked: $(ls -d "$top"/{sendmail-bin,opensmtpd,nullmailer}-root | tr '\n' ' ')"
