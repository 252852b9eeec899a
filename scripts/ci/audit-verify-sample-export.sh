#!/usr/bin/env bash
# A sample export, verified as an auditor would: the demo workload on a throw-away embedded database,
# `chainbook export` to a folder, then `audit-verify --archive` (every manifest signature, object
# hash, link and record) with `--compare-database` (the database holds the archive as a prefix).
# Runs the compiled build (npm install makes it). Exit 0 when the archive verifies.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CHAINBOOK_DATA_DIR="$work/.chainbook"
unset DATABASE_URL NODE_ENV SIGNING_BACKEND REQUIRE_KMS REQUIRE_SIGNING_PROXY

node bin/chainbook.js demo --orders 2 >/dev/null
node bin/chainbook.js export --to "$work/archive" --no-progress
node bin/chainbook.js audit-verify --archive "$work/archive" --compare-database "$CHAINBOOK_DATA_DIR" --no-progress
