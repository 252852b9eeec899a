#!/usr/bin/env bash
# The runbooks' protected-branch gate (their require_kms_check.sh): with REQUIRE_KMS=true or
# REQUIRE_SIGNING_PROXY=true, `chainbook signing check` must pass: the configured signing path
# answers and its key is registered, inside its window. Without either, the gate is skipped, unless
# PROTECTED_BRANCH=true (main, release/*), where leaving both unset is itself a failure.
# Runs the compiled build (npm install makes it). Exit 0 passed or skipped, 1 failed, 2 misconfigured.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${REQUIRE_KMS:-false}" != true ] && [ "${REQUIRE_SIGNING_PROXY:-false}" != true ]; then
  if [ "${PROTECTED_BRANCH:-false}" = true ]; then
    echo "signing gate: FAILED: a protected branch needs REQUIRE_KMS=true or REQUIRE_SIGNING_PROXY=true" >&2
    exit 1
  fi
  echo "signing gate: skipped (REQUIRE_KMS and REQUIRE_SIGNING_PROXY are not set)"
  exit 0
fi
node bin/chainbook.js signing check
