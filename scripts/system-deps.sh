#!/usr/bin/env bash
# Installs the Debian packages pgdba needs, when missing and allowed (root); otherwise prints the one
# command to run.  Usage: system-deps.sh demo|test  (the demo needs PostgreSQL, HypoPG and pg_qualstats).
set -euo pipefail
purpose=${1:-test}
need=()
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/postgres" ] || need+=(postgresql-15 postgresql-contrib)
[ -f /usr/lib/postgresql/15/lib/hypopg.so ] || need+=(postgresql-15-hypopg)
[ -f /usr/lib/postgresql/15/lib/pg_qualstats.so ] || need+=(postgresql-15-pg-qualstats)  # advisor: observed constants
if [ "$purpose" = test ]; then
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)  # alerts: promtool check rules / test rules
  [ -x /usr/sbin/netdata ] || need+=(netdata)                  # alerts: the real Netdata agent test
  command -v age >/dev/null 2>&1 || need+=(age)                # backup: client-side encryption tests
  [ -x /usr/bin/chromium ] || need+=(chromium)                 # api: the dashboard browser test (headless)
  [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)              # target: the test of a pooler in between
fi
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
# Packages such as prometheus and netdata would start system services on install: keep them stopped.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
