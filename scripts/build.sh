#!/usr/bin/env bash
# The compiled build (npm run build; npm install runs it as `prepare`): the TypeScript of the service
# compiled once to JavaScript in dist/, beside the files it reads at run time. bin/chainbook.js, npm
# start and the worker threads run dist/; the tests run the source through tsx (bin/chainbook.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf dist
# Relative imports are written with .ts in the source; the compiler rewrites them to .js.
npx --no-install tsc -p tsconfig.build.json

# What the code reads beside itself (new URL('./…', import.meta.url)).
mkdir -p dist/infra/adapters/sql/migrations
cp infra/adapters/sql/migrations/*.sql dist/infra/adapters/sql/migrations/
cp -p archive/auditorCheck.sh dist/archive/auditorCheck.sh
cp infra/adapters/sandbox/seccompFilter.c infra/adapters/sandbox/zipEntries.py dist/infra/adapters/sandbox/
# The auditor page and its checker (infra/adapters/files/auditorPage.ts reads them from ../../../auditor/).
mkdir -p dist/auditor
cp auditor/checker.mjs auditor/page.mjs auditor/index.html dist/auditor/
mkdir -p dist/infra/adapters/inspection/rules
cp infra/adapters/inspection/rules/*.yar dist/infra/adapters/inspection/rules/

# infra/wiring/version.ts reads ../../package.json: in dist/ that is this one, written last, so that
# its time stamp is the build's (test/build.e2e.test.ts rebuilds when a source file is newer).
node -e '
const { name, version, type } = JSON.parse(require("node:fs").readFileSync("package.json", "utf8"));
require("node:fs").writeFileSync("dist/package.json", JSON.stringify({ name, version, type, private: true }, null, 2) + "\n");
'
