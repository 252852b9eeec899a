# The auditor's check of an audit bundle (`chainbook audit-bundle`), run in
# the bundle folder. Standard tools only: bash, jq, openssl, sha256sum, zcat,
# xxd, awk. audit-bundle copies it into the bundle's README.md and check.sh.
# Its last line is always the verdict: "bundle OK: …" and exit 0 when every
# check ran and held, otherwise "FAILED: <what>" and exit 1, whatever stopped it.
set -euo pipefail
export LC_ALL=C # byte order for the comparisons below
verdict=""
fail() { verdict="FAILED: $*"; echo "$verdict"; exit 1; }
# A step that stops the script unexpectedly (a missing file or tool, a file that is not JSON) is named, and is a failure.
trap 'stopped_at="line $LINENO: $BASH_COMMAND"' ERR
trap 'status=$?; rm -rf "${work:-}"; if [ -z "$verdict" ]; then echo "FAILED: the check stopped at ${stopped_at:-an unexpected error} (exit $status)"; exit 1; fi' EXIT
for tool in jq openssl sha256sum zcat xxd awk; do command -v "$tool" > /dev/null || fail "$tool is not installed"; done
work=$(mktemp -d)
# Where the signer's public key is: signers.json, by kid.
public_key() { jq -r --arg kid "$1" '.signers[] | select(.signer_kid == $kid) | .public_key_pem' signers.json > "$2"; test -s "$2"; }
# An ECDSA signature counts only with a low S, s <= n/2 of P-256 (docs/FORMAT.md section 3): OpenSSL accepts both.
low_s() { # sig.der
  local s
  s=$(openssl asn1parse -inform DER -in "$1" 2> /dev/null | awk -F: '/INTEGER/ { v = $NF } END { print v }')
  s=$(printf '%64s' "$s" | tr ' ' 0)
  test -n "$s" && ! [[ "$s" > 7FFFFFFF800000007FFFFFFFFFFFFFFFDE737D56D38BCF4279DCE5617E3192A8 ]]
}
# A document signature (manifests, proofs): ed25519 over the bytes, rsa-sha256 and ecdsa-p256-sha256 over their SHA-256.
check_signature() { # alg public.pem payload sig
  case "$1" in
    ed25519) openssl pkeyutl -verify -pubin -inkey "$2" -rawin -in "$3" -sigfile "$4" > /dev/null 2>&1 ;;
    rsa-sha256) openssl dgst -sha256 -verify "$2" -signature "$4" "$3" > /dev/null 2>&1 ;;
    ecdsa-p256-sha256) openssl dgst -sha256 -verify "$2" -signature "$4" "$3" > /dev/null 2>&1 && low_s "$4" ;;
    *) return 1 ;;
  esac
}
# 0. The bundle is whole: signers.json and bundle.json parse, every batch has its manifest and every manifest its batch.
jq -e '.signers | length > 0' signers.json > /dev/null 2>&1 || fail "signers.json is missing or has no signers"
jq -e '.batches_from_seq and .batches_to_seq' bundle.json > /dev/null 2>&1 || fail "bundle.json is missing or does not name the batches' seq range"
# 0b. bundle.json is signed (bundle.sig, over its exact bytes, by a signer in signers.json): the range and batches it names,
# which step 5's last check holds the batches to, cannot be edited to match a bundle cut at its tail.
test -f bundle.sig || fail "bundle.json is not signed (no bundle.sig): its range and batches could have been edited"
jq -e '(.signer_kid | type) == "string" and (.alg | type) == "string" and (.signature | type) == "string"' bundle.sig > /dev/null 2>&1 \
  || fail "bundle.sig is not { signer_kid, alg, signature }"
jq -r .signature bundle.sig | openssl base64 -d -A > "$work/sig" 2> /dev/null || fail "bundle.sig: signature is not base64"
public_key "$(jq -r .signer_kid bundle.sig)" "$work/public.pem" || fail "bundle.sig: signer $(jq -r .signer_kid bundle.sig) is not in signers.json"
check_signature "$(jq -r .alg bundle.sig)" "$work/public.pem" bundle.json "$work/sig" || fail "bundle.sig: signature over bundle.json"
test -d batches || fail "the batches folder is missing"
for object in $(find batches -name '*.jsonl.gz' | sort); do
  test -f "${object%.jsonl.gz}.manifest.json" || fail "$object has no manifest"
done
manifests=$(find batches -name '*.manifest.json' | awk -F/ '{ print $NF "\t" $0 }' | sort | cut -f2)
test -n "$manifests" || fail "the bundle holds no batch"
previous=""; batches=0; records=0; sessions=0; first_seq=""; last_seq=""
for manifest in $manifests; do
  batch="${manifest%.manifest.json}.jsonl.gz"
  test -f "$batch" || fail "$batch is missing (its manifest is there)"
  jq -e '.object_sha256 and .signature and .signer_kid and .alg and .from_seq and .to_seq and .count and .first_prev_hash and .last_hash' "$manifest" > /dev/null 2>&1 \
    || fail "$manifest is not a manifest (not JSON, or members missing)"
  # 1. The batch object is the one the manifest names.
  test "$(sha256sum < "$batch" | cut -d' ' -f1)" = "$(jq -r .object_sha256 "$manifest")" || fail "$batch: SHA-256 is not object_sha256"
  # 2. The manifest's signature: over its JCS without "signature" (jq -cS writes JCS for these ASCII members).
  jq -jcS 'del(.signature)' "$manifest" > "$work/payload"
  jq -r .signature "$manifest" | openssl base64 -d -A > "$work/sig" 2> /dev/null || fail "$manifest: signature is not base64"
  public_key "$(jq -r .signer_kid "$manifest")" "$work/public.pem" || fail "$manifest: signer $(jq -r .signer_kid "$manifest") is not in signers.json"
  check_signature "$(jq -r .alg "$manifest")" "$work/public.pem" "$work/payload" "$work/sig" || fail "$manifest: signature"
  # 3. Batches link: first_prev_hash is the previous batch's last_hash, and seqs follow.
  if [ -n "$previous" ]; then
    test "$(jq -r .first_prev_hash "$manifest")" = "$previous" || fail "$manifest does not follow the previous batch"
    test "$(jq -r .from_seq "$manifest")" = "$((last_seq + 1))" || fail "$manifest does not start right after the previous batch (seq $last_seq)"
  fi
  previous=$(jq -r .last_hash "$manifest"); last_seq=$(jq -r .to_seq "$manifest"); first_seq=${first_seq:-$(jq -r .from_seq "$manifest")}
  # 4. Inside the batch: count lines, seqs consecutive, each prevHash the previous hash, ends as the manifest says.
  zcat "$batch" > "$work/records.jsonl" 2> /dev/null || fail "$batch does not decompress"
  jq -r '[.seq, .prevHash, .hash] | @tsv' "$work/records.jsonl" > "$work/links" 2> /dev/null || fail "$batch: a line is not JSON"
  test "$(wc -l < "$work/links")" = "$(jq -r .count "$manifest")" || fail "$batch: count"
  awk -F'\t' -v from="$(jq -r .from_seq "$manifest")" -v first="$(jq -r .first_prev_hash "$manifest")" -v last="$(jq -r .last_hash "$manifest")" \
    'NR == 1 && ($1 != from || $2 != first) { exit 1 } NR > 1 && ($1 != seq + 1 || $2 != hash) { exit 1 } { seq = $1; hash = $3 } END { if (hash != last) exit 1 }' "$work/links" \
    || fail "$batch: records do not link as the manifest says"
  # 5. The first record's hash recomputes and its signature verifies (docs/FORMAT.md section 0 does the same for any record).
  awk 'NR == 1 { print; exit }' "$work/records.jsonl" > "$work/record"
  jq -jcS 'del(.hash, .prevHash, .sig)' "$work/record" > "$work/preimage"
  jq -r .prevHash "$work/record" | xxd -r -p >> "$work/preimage"
  openssl dgst -sha256 -binary "$work/preimage" > "$work/hash"
  test "$(xxd -p -c 32 "$work/hash")" = "$(jq -r .hash "$work/record")" || fail "$batch: the first record's hash does not recompute"
  jq -r .sig.value "$work/record" | openssl base64 -d -A > "$work/sig" 2> /dev/null || fail "$batch: the first record's signature is not base64"
  kid=$(jq -r .sig.kid "$work/record")
  if public_key "$kid" "$work/public.pem"; then
    case "$(jq -r .sig.alg "$work/record")" in
      ed25519) openssl pkeyutl -verify -pubin -inkey "$work/public.pem" -rawin -in "$work/hash" -sigfile "$work/sig" > /dev/null 2>&1 ;;
      *) check_signature "$(jq -r .sig.alg "$work/record")" "$work/public.pem" "$work/preimage" "$work/sig" ;;
    esac || fail "$batch: the first record's signature"
  elif [[ "$kid" == session-* ]]; then
    sessions=$((sessions + 1)) # a session key (docs/FORMAT.md section 4b): step 7 checks its delegation
  else
    fail "$batch: the first record's signer $kid is not in signers.json"
  fi
  batches=$((batches + 1)); records=$((records + $(jq -r .count "$manifest")))
done
# The batches are those bundle.json names: none removed at either end.
test "$first_seq" = "$(jq -r .batches_from_seq bundle.json)" && test "$last_seq" = "$(jq -r .batches_to_seq bundle.json)" \
  || fail "the batches hold seq $first_seq to $last_seq, bundle.json says $(jq -r .batches_from_seq bundle.json) to $(jq -r .batches_to_seq bundle.json): a batch is missing"
# 6. Each ledger proof: its signature over canonical_payload, then the range_hash and head_hash it signs recomputed from the batches.
proofs=0
for manifest in $manifests; do zcat "${manifest%.manifest.json}.jsonl.gz"; done > "$work/records"
for proof in $(if [ -d proofs ]; then find proofs -name '*.json' | sort; fi); do
  jq -j .canonical_payload "$proof" > "$work/payload" 2> /dev/null || fail "$proof is not a proof document"
  jq -r .signature "$proof" | openssl base64 -d -A > "$work/sig" 2> /dev/null || fail "$proof: signature is not base64"
  jq -e . "$work/payload" > /dev/null 2>&1 || fail "$proof: canonical_payload is not JSON"
  public_key "$(jq -r .signer_kid "$work/payload")" "$work/public.pem" || fail "$proof: signer $(jq -r .signer_kid "$work/payload") is not in signers.json"
  check_signature "$(jq -r .alg "$work/payload")" "$work/public.pem" "$work/payload" "$work/sig" || fail "$proof: signature"
  from=$(jq .from_seq "$work/payload"); to=$(jq .to_seq "$work/payload")
  range_hash=$(jq -c --argjson from "$from" --argjson to "$to" 'select(.type == "ledger.posted" and .seq >= $from and .seq <= $to) | {seq, event_id: .id, record_hash: .hash, transaction: .data}' "$work/records" | jq -sjcS . | sha256sum | cut -d' ' -f1)
  test "$range_hash" = "$(jq -r .range_hash "$work/payload")" || fail "$proof: range_hash does not recompute"
  test "$(jq -r --argjson to "$to" 'select(.seq == $to) | .hash' "$work/records")" = "$(jq -r .head_hash "$work/payload")" || fail "$proof: head_hash"
  proofs=$((proofs + 1))
done
# 6b. Each delivery proof: its signature over canonical_payload, then the delivery.prepared record it names, by seq and hash, says what it signs.
deliveries=0
for proof in $(if [ -d delivery-proofs ]; then find delivery-proofs -name '*.json' | sort; fi); do
  jq -j .canonical_payload "$proof" > "$work/payload" 2> /dev/null || fail "$proof is not a proof document"
  jq -r .signature "$proof" | openssl base64 -d -A > "$work/sig" 2> /dev/null || fail "$proof: signature is not base64"
  jq -e . "$work/payload" > /dev/null 2>&1 || fail "$proof: canonical_payload is not JSON"
  public_key "$(jq -r .signer_kid "$work/payload")" "$work/public.pem" || fail "$proof: signer $(jq -r .signer_kid "$work/payload") is not in signers.json"
  check_signature "$(jq -r .alg "$work/payload")" "$work/public.pem" "$work/payload" "$work/sig" || fail "$proof: signature"
  test "$(jq -cS 'del(.canonical_payload, .signature)' "$proof")" = "$(jq -cS . "$work/payload")" || fail "$proof: its members are not what canonical_payload signs"
  jq -c --argjson seq "$(jq .delivery_seq "$work/payload")" 'select(.seq == $seq)' "$work/records" > "$work/delivery"
  test "$(jq -r .hash "$work/delivery")" = "$(jq -r .delivery_hash "$work/payload")" || fail "$proof: delivery_hash is not the hash of the record at delivery_seq"
  jq -e -s '.[0] as $p | .[1] as $r | $r.type == "delivery.prepared" and $r.data.orderId == $p.order_id
    and $r.data.deliveryId == $p.delivery_id and $r.data.buyerId == $p.buyer_id and $r.data.manifestId == $p.manifest_id
    and $r.data.artifactSha256 == $p.artifact_sha256 and $r.data.ciphertextSha256 == $p.ciphertext_sha256
    and $r.data.ciphertextBytes == $p.ciphertext_bytes and $r.data.algorithm == $p.algorithm
    and $r.data.manifestSignatureId == $p.manifest_signature_id and $r.data.ledgerProofId == $p.ledger_proof_id
    and $r.chain == $p.chain and ($r.data.keyProvenance | if .type == "buyer-key"
      then {type, key_type: .keyType, spki_sha256: .spkiSha256}
      else {type, key_id: .keyId, origin, wrapping_key_id: .wrappingKeyId} end) == $p.key_provenance' \
    "$work/payload" "$work/delivery" > /dev/null || fail "$proof: the delivery.prepared record at delivery_seq says otherwise"
  deliveries=$((deliveries + 1))
done
verdict="bundle OK: $batches batches, $records records linked, $proofs ledger proofs, $deliveries delivery proofs"
if [ "$sessions" -gt 0 ]; then verdict="$verdict ($sessions first records signed by session keys: step 7 checks them)"; fi
echo "$verdict"
