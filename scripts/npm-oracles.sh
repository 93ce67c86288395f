#!/usr/bin/env bash
# Installs the official Prisma and Drizzle parsers (the schema verifier's test oracles) into
# .cache/npm-oracles, once. Needs node + npm and the npm registry; prints one clear line otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/npm-oracles
packages=(
  "@prisma/prisma-schema-wasm@${PRISMA_SCHEMA_WASM_VERSION:-latest}"
  "drizzle-kit@${DRIZZLE_KIT_VERSION:-0.31}"
  "drizzle-orm@${DRIZZLE_ORM_VERSION:-0.44}"
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
