/**
 * The auditor's README of an audit bundle (`chainbook audit-bundle`): what
 * the folder holds and a script of standard tools (bash, jq, openssl,
 * sha256sum, zcat, awk) that checks it without our software. The script
 * (archive/auditorCheck.sh, given as `script`) is the README's only
 * `sh` block; test/archive/auditBundle.e2e.test.ts runs it from the README.
 */

export interface BundleFacts {
  service: string;
  chain: string;
  fromTs: string;
  toTs: string;
  /** First and last seq of the records committed in [fromTs, toTs]. */
  fromSeq: number;
  toSeq: number;
  /** Seq range of the batches in the bundle (whole batches, so it may start before fromSeq and end after toSeq). */
  batchesFromSeq: number;
  batchesToSeq: number;
  batches: number;
  proofs: number;
  deliveryProofs: number;
  /** Signed checkpoints and inclusion proof files in the bundle (docs/FORMAT.md section 14). */
  checkpoints: number;
  inclusionProofs: number;
  createdAt: string;
  version: string;
}

export function bundleReadme(facts: BundleFacts, script: string): string {
  return `# Audit bundle: ${facts.service}, chain ${facts.chain}, ${facts.fromTs} to ${facts.toTs}

Made by chainbook ${facts.version} at ${facts.createdAt}. The records of chain
\`${facts.chain}\` committed from ${facts.fromTs} to ${facts.toTs} are seq
${facts.fromSeq} to ${facts.toSeq}. They sit in ${facts.batches} whole archive batches
(seq ${facts.batchesFromSeq} to ${facts.batchesToSeq}), exactly as they are in the archive.

| path | what |
|---|---|
| \`batches/<service>/<date>/<chain>-<from>-<to>.jsonl.gz\` | archive batches: gzip JSON Lines, one record per line (docs/FORMAT.md sections 1 and 8) |
| \`batches/…/<chain>-<from>-<to>.manifest.json\` | each batch's signed manifest: seq range, \`first_prev_hash\`, \`last_hash\`, \`object_sha256\`, signer and signature |
| \`signers.json\` | the signer registry: public keys (SPKI PEM) and validity windows |
| \`bundle.json\` | what the bundle holds: the time range, its seqs, and the batches' seq range and keys |
| \`proofs/<proof_id>.json\` | ${facts.proofs} signed ledger proofs whose range lies in these batches (docs/FORMAT.md section 9) |
| \`delivery-proofs/<proof_id>.json\` | ${facts.deliveryProofs} signed delivery proofs whose delivery record lies in these batches (docs/FORMAT.md section 13) |
| \`checkpoints/<tree size>.checkpoint\` | ${facts.checkpoints} signed checkpoints of the chain's Merkle tree whose size lies in these batches (docs/FORMAT.md section 14) |
| \`inclusion/<seq>.tlog-proof\` | ${facts.inclusionProofs} inclusion proof files of the range's first and last records (docs/FORMAT.md section 14) |
| \`index.html\` | the auditor page: open it in a browser and give it this folder; it checks everything above with nothing to install (docs/FORMAT.md section 15) |

## Check it with standard tools

Needs bash, jq, openssl (1.1.1 or later), sha256sum, zcat, xxd and awk. Run
in this folder (or \`bash check.sh\`). Its last line is always the verdict:
\`bundle OK: …\` and exit 0 when every check ran and held; otherwise
\`FAILED: …\` naming the first failure (or the step where it stopped, say a
missing tool or a file that is not JSON) and exit 1.
It checks (0) that the bundle is whole: every batch has its manifest and
every manifest its batch, and the batches span the seq range \`bundle.json\`
names (a batch removed at either end; one removed in the middle breaks
step 3); then, for every batch: (1) the object's SHA-256 is the manifest's
\`object_sha256\`; (2) the manifest's signature, by the signer
\`signers.json\` names, over the manifest's JCS without \`signature\` (an
ECDSA signature counts only with a low S, docs/FORMAT.md section 3; OpenSSL
alone accepts both forms, so the script reads S with \`openssl asn1parse\`); (3) each
batch's \`first_prev_hash\` is the previous batch's \`last_hash\`; (4) the
records inside follow each other (seq + 1, each \`prevHash\` the previous
\`hash\`) from \`first_prev_hash\` to \`last_hash\`; (5) the first record's
hash recomputes (SHA-256 of JCS of the record without \`hash\`, \`prevHash\`,
\`sig\`, then the 32 bytes of \`prevHash\`) and its signature verifies (a record
signed by a session key, docs/FORMAT.md section 4b, is left to step 7, and the
verdict says how many); and for every
proof (6) its signature over \`canonical_payload\` and its \`range_hash\` and
\`head_hash\` recomputed from the batches.

\`jq -cS\` writes the JCS (RFC 8785) of these documents: their members are
ASCII and their numbers integers. A record whose data holds a DEL character
or characters outside the Basic Multilingual Plane needs a real JCS
implementation for step 5.

\`\`\`sh
${script.trimEnd()}
\`\`\`

Then (7) check every record, not only the first of each batch: with
chainbook, \`zcat $(find batches -name '*.jsonl.gz' | sort) | chainbook audit-verify --input - --signers signers.json --from ${facts.batchesFromSeq} --prev-hash <first_prev_hash of the first batch>\`,
or with any implementation of docs/FORMAT.md section 5. The first batch's
\`first_prev_hash\` links this bundle to the records before it; compare it
with the \`last_hash\` of the batch before, from the archive or an earlier
bundle.
`;
}
