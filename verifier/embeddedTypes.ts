/** The record types whose data carries a document signature (docs/FORMAT.md section 5, check 5b; verifier/embedded.ts). */
export const EMBEDDED_SIGNATURE_TYPES = {
  /** The kernel's signature over the 32 bytes of data.manifestSha256 (domain/manifests/manifestEvents.ts). */
  manifestApproved: 'manifest.approved',
  /** A ledger proof's signature over its canonical_payload (docs/FORMAT.md section 9). */
  proofIssued: 'ledger.proof_issued',
  /** A delivery proof's signature over its canonical_payload (docs/FORMAT.md section 13). */
  deliveryProofIssued: 'delivery.proof_issued',
} as const;
