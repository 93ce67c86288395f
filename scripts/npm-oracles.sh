#!/usr/bin/env bash
# Installs the official Prisma and Drizzle tools (the schema verifier's test oracles) into
# .cache/npm-oracles, once: Prisma's schema parser (DMMF) and schema engine (DDL, driven through the pg
# adapter), drizzle-kit and drizzle-orm. Needs node + npm and the npm registry; one clear line otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/npm-oracles
prisma_engines=8.1.0-2.59be4fda12412a79eeb9c2ae727b6aa723593323
packages=(
  "@prisma/prisma-schema-wasm@${prisma_engines}"
  "@prisma/schema-engine-wasm@${prisma_engines}"
  "@prisma/adapter-pg@7.10.1"
  "drizzle-kit@0.31.11"
  "drizzle-orm@0.44.7"
)
stamp="$dest/.installed-$(printf '%s\n' "${packages[@]}" | sha1sum | cut -c1-12)"
[ -f "$stamp" ] && exit 0
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "pgdba: npm/node not found; the schema oracle tests need them (apt-get install -y nodejs npm)" >&2
  exit 2
fi
mkdir -p "$dest"
[ -f "$dest/package.json" ] || echo '{"name": "pgdba-npm-oracles", "private": true}' > "$dest/package.json"
echo "pgdba: installing ${packages[*]} into $dest" >&2
npm install --prefix "$dest" --no-audit --no-fund --loglevel=error "${packages[@]}" >&2
touch "$stamp"
