#!/usr/bin/env bash
# Installs the Debian packages pgdba's demo and tests need, when missing and allowed (root);
# otherwise prints the one command to run.
set -euo pipefail
need=()
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/postgres" ] || need+=(postgresql-15 postgresql-contrib)
[ -f /usr/lib/postgresql/15/lib/hypopg.so ] || need+=(postgresql-15-hypopg)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)  # alerts: promtool check rules / test rules
[ -x /usr/sbin/netdata ] || need+=(netdata)  # alerts: the real Netdata agent test
for pkg in ${EXTRA_DEBIAN_PACKAGES:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "pgdba: missing Debian packages; run: sudo apt-get install -y ${need[*]}" >&2
  exit 2
fi
echo "pgdba: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${need[@]}" >/dev/null
