# The auditor's check of an audit bundle (`chainbook audit-bundle`), run in
# the bundle folder. Standard tools only: bash, jq, openssl, sha256sum, zcat,
# xxd, awk. audit-bundle copies it into the bundle's README.md and check.sh.
set -euo pipefail
# Where the signer's public key is: signers.json, by kid.
public_key() { jq -r --arg kid "$1" '.signers[] | select(.signer_kid == $kid) | .public_key_pem' signers.json > "$2"; test -s "$2"; }
# A document signature (manifests, proofs): ed25519 over the bytes, rsa-sha256 and ecdsa-p256-sha256 over their SHA-256.
check_signature() { # alg public.pem payload sig
  case "$1" in
    ed25519) openssl pkeyutl -verify -pubin -inkey "$2" -rawin -in "$3" -sigfile "$4" > /dev/null ;;
    rsa-sha256|ecdsa-p256-sha256) openssl dgst -sha256 -verify "$2" -signature "$4" "$3" > /dev/null ;;
    *) echo "unknown algorithm $1"; return 1 ;;
  esac
}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
manifests=$(find batches -name '*.manifest.json' | awk -F/ '{ print $NF "\t" $0 }' | sort | cut -f2)
previous=""; batches=0; records=0
for manifest in $manifests; do
  batch="${manifest%.manifest.json}.jsonl.gz"
  # 1. The batch object is the one the manifest names.
  test "$(sha256sum < "$batch" | cut -d' ' -f1)" = "$(jq -r .object_sha256 "$manifest")" || { echo "FAILED: $batch: SHA-256 is not object_sha256"; exit 1; }
  # 2. The manifest's signature: over its JCS without "signature" (jq -cS writes JCS for these ASCII members).
  jq -jcS 'del(.signature)' "$manifest" > "$work/payload"
  jq -r .signature "$manifest" | openssl base64 -d -A > "$work/sig"
  public_key "$(jq -r .signer_kid "$manifest")" "$work/public.pem"
  check_signature "$(jq -r .alg "$manifest")" "$work/public.pem" "$work/payload" "$work/sig" || { echo "FAILED: $manifest: signature"; exit 1; }
  # 3. Batches link: first_prev_hash is the previous batch's last_hash.
  if [ -n "$previous" ]; then test "$(jq -r .first_prev_hash "$manifest")" = "$previous" || { echo "FAILED: $manifest does not follow the previous batch"; exit 1; }; fi
  previous=$(jq -r .last_hash "$manifest")
  # 4. Inside the batch: count lines, seqs consecutive, each prevHash the previous hash, ends as the manifest says.
  zcat "$batch" | jq -r '[.seq, .prevHash, .hash] | @tsv' > "$work/links"
  test "$(wc -l < "$work/links")" = "$(jq -r .count "$manifest")" || { echo "FAILED: $batch: count"; exit 1; }
  awk -F'\t' -v from="$(jq -r .from_seq "$manifest")" -v first="$(jq -r .first_prev_hash "$manifest")" -v last="$(jq -r .last_hash "$manifest")" \
    'NR == 1 && ($1 != from || $2 != first) { exit 1 } NR > 1 && ($1 != seq + 1 || $2 != hash) { exit 1 } { seq = $1; hash = $3 } END { if (hash != last) exit 1 }' "$work/links" \
    || { echo "FAILED: $batch: records do not link as the manifest says"; exit 1; }
  # 5. The first record's hash recomputes and its signature verifies (docs/FORMAT.md section 0 does the same for any record).
  zcat "$batch" | head -n 1 > "$work/record"
  jq -jcS 'del(.hash, .prevHash, .sig)' "$work/record" > "$work/preimage"
  jq -r .prevHash "$work/record" | xxd -r -p >> "$work/preimage"
  openssl dgst -sha256 -binary "$work/preimage" > "$work/hash"
  test "$(xxd -p -c 32 "$work/hash")" = "$(jq -r .hash "$work/record")" || { echo "FAILED: $batch: the first record's hash does not recompute"; exit 1; }
  jq -r .sig.value "$work/record" | openssl base64 -d -A > "$work/sig"
  kid=$(jq -r .sig.kid "$work/record")
  if jq -e --arg kid "$kid" '.signers[] | select(.signer_kid == $kid)' signers.json > /dev/null; then
    public_key "$kid" "$work/public.pem"
    case "$(jq -r .sig.alg "$work/record")" in
      ed25519) openssl pkeyutl -verify -pubin -inkey "$work/public.pem" -rawin -in "$work/hash" -sigfile "$work/sig" > /dev/null ;;
      *) openssl dgst -sha256 -verify "$work/public.pem" -signature "$work/sig" "$work/preimage" > /dev/null ;;
    esac || { echo "FAILED: $batch: the first record's signature"; exit 1; }
  fi
  batches=$((batches + 1)); records=$((records + $(jq -r .count "$manifest")))
done
# 6. Each ledger proof: its signature over canonical_payload, then the range_hash and head_hash it signs recomputed from the batches.
proofs=0
for proof in $(find proofs -name '*.json' | sort); do
  jq -j .canonical_payload "$proof" > "$work/payload"
  jq -r .signature "$proof" | openssl base64 -d -A > "$work/sig"
  public_key "$(jq -r .signer_kid "$work/payload")" "$work/public.pem"
  check_signature "$(jq -r .alg "$work/payload")" "$work/public.pem" "$work/payload" "$work/sig" || { echo "FAILED: $proof: signature"; exit 1; }
  from=$(jq .from_seq "$work/payload"); to=$(jq .to_seq "$work/payload")
  for manifest in $manifests; do zcat "${manifest%.manifest.json}.jsonl.gz"; done > "$work/records"
  range_hash=$(jq -c --argjson from "$from" --argjson to "$to" 'select(.type == "ledger.posted" and .seq >= $from and .seq <= $to) | {seq, event_id: .id, record_hash: .hash, transaction: .data}' "$work/records" | jq -sjcS . | sha256sum | cut -d' ' -f1)
  test "$range_hash" = "$(jq -r .range_hash "$work/payload")" || { echo "FAILED: $proof: range_hash does not recompute"; exit 1; }
  test "$(jq -r --argjson to "$to" 'select(.seq == $to) | .hash' "$work/records")" = "$(jq -r .head_hash "$work/payload")" || { echo "FAILED: $proof: head_hash"; exit 1; }
  proofs=$((proofs + 1))
done
echo "bundle OK: $batches batches, $records records linked, $proofs ledger proofs"
