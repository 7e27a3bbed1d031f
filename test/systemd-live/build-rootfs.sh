#!/usr/bin/env bash
# Builds the Debian 12 root filesystem test/systemd-live boots with systemd-nspawn, once per
# machine: into a temporary directory beside the cache, renamed into place when complete, so a
# half-built tree is never used. The directory's name carries a hash of the recipe below, so
# changing it builds a new tree (older ones are removed once the new one is in place).
#
#   build-rootfs.sh CACHE_DIR      prints the root filesystem's path (building it if missing)
#
# Needs root, debootstrap and systemd-nspawn (Debian packages debootstrap, systemd-container).
set -euo pipefail
cache=${1:?usage: build-rootfs.sh CACHE_DIR}
# The recipe (bump version for a change the variables below do not show): minbase + systemd as
# PID 1; dbus for systemctl's clients; ca-certificates; the PostgreSQL server the PostgreSQL-store
# check runs on the container's loopback (never started at boot: the test starts it); procps for
# /bin/kill, which the unit's ExecReload= runs (minbase lacks it).
suite=bookworm
include=systemd,systemd-sysv,dbus,ca-certificates
extra=(postgresql-15 procps)
version=1
key=$(printf '%s\n' "$version" "$suite" "$include" "${extra[*]}" | sha256sum | cut -c1-12)
root="$cache/bookworm-root-$key"

[ -d "$root" ] && { echo "$root"; exit 0; }
install -d -m 0755 "$cache"
exec 9>"$cache/.lock"
flock 9
[ -d "$root" ] && { echo "$root"; exit 0; }

# The mirror this machine's apt uses (deb822 sources first, then the one-line format).
mirror=""
if [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit } $1 == "deb" { print $3; exit }' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}

tmp=$(mktemp -d "$cache/.build-$key.XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
chmod 0755 "$tmp"
echo "building $root from $mirror (debootstrap, a few minutes)" >&2
debootstrap --variant=minbase --include="$include" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 \
  || { tail -30 "$tmp.log" >&2; rm -f "$tmp.log"; exit 1; }
rm -f "$tmp.log"
# Packages beyond debootstrap's: installed by apt inside the tree (nspawn as a chroot with /proc,
# /sys and the host's network); no service starts at install time.
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod 0755 "$tmp/usr/sbin/policy-rc.d"
systemd-nspawn -q -D "$tmp" --register=no --keep-unit --pipe /bin/sh -c \
  "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends ${extra[*]} >/dev/null && apt-get clean && systemctl disable postgresql.service >/dev/null 2>&1; true" >&2
[ -x "$tmp/usr/lib/postgresql/15/bin/postgres" ] || { echo "postgresql-15 did not install" >&2; exit 1; }
rm -f "$tmp/usr/sbin/policy-rc.d"
# No host name, no machine id: each boot makes its own.
: >"$tmp/etc/machine-id"
echo "$key" >"$tmp/.tokenbroker-rootfs"
mv -T "$tmp" "$root"
trap - EXIT
for old in "$cache"/bookworm-root-*; do
  [ "$old" = "$root" ] || rm -rf --one-file-system "$old"
done
echo "$root"
