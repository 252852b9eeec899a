#!/usr/bin/env bash
# Publishes a KMS key in the signer registry (the runbooks' update-signers-from-kms step):
# `chainbook signers add --kms-key-id` reads its public key with GetPublicKey (no key material is
# copied by hand), checks it can sign --alg, and records signer.registered, signed by the signer in
# force, with the window [deployedAt, no retiredAt). Idempotent: when the registry already holds the
# kid with that same key, nothing changes and it exits 0; another key under the kid is refused.
#
# Usage: scripts/update-signers-from-kms.sh --kms-key-id ID --kid KID --alg ALG
#          [--deployed-at RFC3339 | --ahead-minutes N (default 60)] [--actor NAME] [--signers FILE]
# Configuration as for the CLI (DATABASE_URL, SIGNING_BACKEND of the signer in force, AWS_REGION…).
# Exit 0 added or already there; otherwise the CLI's code (2 for what the key, the registry or the
# configuration refuse, SIGNER_KEY_MISMATCH when KMS answered no usable key, SIGNER_EXISTS for another
# key under the kid; 1 when KMS or the signer in force did not answer) with one line naming why.
# CHAINBOOK_CLI overrides the command that runs the CLI (default: node bin/chainbook.js here).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
read -r -a CLI <<<"${CHAINBOOK_CLI:-node $ROOT/bin/chainbook.js}"

fail() {
  echo "update-signers-from-kms: $1" >&2
  exit "${2:-2}"
}

key_id="" kid="" alg="" deployed_at="" ahead_minutes=60
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kms-key-id) key_id="${2:-}"; shift 2 ;;
    --kid) kid="${2:-}"; shift 2 ;;
    --alg) alg="${2:-}"; shift 2 ;;
    --deployed-at) deployed_at="${2:-}"; shift 2 ;;
    --ahead-minutes) ahead_minutes="${2:-}"; shift 2 ;;
    --actor | --signers | --chain) extra+=("$1" "${2:-}"); shift 2 ;;
    *) fail "unknown argument $1 (see the usage at the top of $0)" ;;
  esac
done
[ -n "$key_id" ] || fail "--kms-key-id is required"
[ -n "$kid" ] || fail "--kid is required"
[ -n "$alg" ] || fail "--alg is required (ed25519, rsa-sha256, ecdsa-p256-sha256)"
[[ "$ahead_minutes" =~ ^[0-9]+$ ]] && [ "$ahead_minutes" -ge 1 ] || fail "--ahead-minutes must be a whole number of minutes, at least 1"
# Published before it signs: deployedAt in the future (signers add refuses anything else).
if [ -z "$deployed_at" ]; then
  deployed_at="$(date -u -d "+${ahead_minutes} minutes" +%Y-%m-%dT%H:%M:%SZ)"
fi

set +e
output="$("${CLI[@]}" signers add --if-absent --kms-key-id "$key_id" --kid "$kid" --alg "$alg" \
  --deployed-at "$deployed_at" ${extra[@]+"${extra[@]}"} 2>&1)"
code=$?
set -e
if [ "$code" -ne 0 ]; then
  # The CLI names why: SIGNING_UNAVAILABLE (KMS did not answer), SIGNER_KEY_MISMATCH (no or the wrong
  # public key), SIGNER_EXISTS (another key under this kid), …
  fail "KMS key $key_id was not published as $kid: ${output//$'\n'/ }" "$code"
fi
if [[ "$output" == *'"unchanged":true'* ]]; then
  echo "update-signers-from-kms: $kid (KMS key $key_id) is already in the registry: nothing to do"
else
  echo "update-signers-from-kms: $kid (KMS key $key_id) published, deployedAt $deployed_at"
fi
echo "$output"
