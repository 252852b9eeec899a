#!/usr/bin/env bash
# Lays out the image's /app in <target>/app: the compiled build (bin/, dist/), package.json without its
# build scripts, the lock file, the production dependencies alone (npm ci --omit=dev) and the OpenAPI
# document (openapi.yaml, the OPENAPI_PATH default), written by the laid-out CLI itself, so a layout
# missing a module it needs fails here. The Dockerfile's build stage runs it (`/out`), and
# test/scripts/image.int.test.ts runs it outside Docker, then serves from the layout.
# Usage: scripts/image/build-app.sh <target>; SKIP_BUILD=1 reuses a current dist/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TARGET="${1:?usage: scripts/image/build-app.sh <target folder>}"
mkdir -p "$TARGET"
APP="$(cd "$TARGET" && pwd)/app"

cd "$ROOT"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  bash scripts/build.sh
fi
[ -f dist/infra/entrypoints/cli/main.js ] || { echo "build-app: dist/ is missing: run npm run build" >&2; exit 2; }

rm -rf "$APP"
mkdir -p "$APP/bin"
cp bin/chainbook.js "$APP/bin/"
cp -R dist "$APP/dist"
# Source maps stay: stack traces in logs name the TypeScript lines.
cp package-lock.json "$APP/"
# No build scripts in the image: `prepare` would compile with the dev dependencies npm ci leaves out.
node -e '
const fs = require("node:fs");
const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
pkg.scripts = { start: pkg.scripts.start };
fs.writeFileSync(process.argv[1], JSON.stringify(pkg, null, 2) + "\n");
' "$APP/package.json"

cd "$APP"
# pkcs11js (the PKCS#11 signer) compiles with node-gyp here: npm runs only the install scripts the
# package.json's allowScripts names.
npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error

node bin/chainbook.js openapi --output "$APP/openapi.yaml"
# Read-only for everyone but the owner (root in the image): the service user cannot change its code.
chmod -R a-w,u+w,a+rX "$APP"
du -sh "$APP" | sed 's/^/build-app: /'
