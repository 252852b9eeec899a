import test from 'ava';
import { manifestDecider, type ManifestCommand } from '../../domain/manifests/manifestDecider.ts';
import type { ManifestEvent } from '../../domain/manifests/manifestEvents.ts';
import { given } from '../helpers/given.ts';
import {
  SIGNATURE,
  artifactStored,
  buyer,
  manifestApproved,
  manifestDocument,
  operator,
  otherPublisher,
  publisher,
  superAdmin,
} from '../helpers/fixtures.ts';

const submitted: ManifestEvent[] = [{ type: 'manifest.submitted', data: manifestDocument() }];
const uploaded: ManifestEvent[] = [...submitted, artifactStored()];
const upload = (
  overrides: Partial<{ artifactSha256: string; sizeBytes: number }> = {},
  actor = publisher,
): ManifestCommand => ({
  type: 'RecordArtifact',
  actor,
  artifactSha256: manifestDocument().artifactSha256,
  sizeBytes: manifestDocument().sizeBytes,
  objectKey: 'artifacts/m-1/upload-1',
  ...overrides,
});
const approve = (actor = operator): ManifestCommand => ({
  type: 'ApproveManifest',
  actor,
  manifestSha256: 'b'.repeat(64),
  manifestSignatureId: 'msig-1',
  signature: SIGNATURE,
});
const reject = (actor = operator, reason = 'artifact fails the scan'): ManifestCommand => ({
  type: 'RejectManifest',
  actor,
  reason,
});

test('a publisher submits its own manifest', (t) => {
  given(manifestDecider)
    .when({ type: 'SubmitManifest', actor: publisher, manifest: manifestDocument() })
    .then(t, submitted);
});

test('submission is refused: twice, for another publisher, by a non-publisher, with a bad split, price or currency', (t) => {
  const submit = (overrides = {}, actor = publisher): ManifestCommand => ({
    type: 'SubmitManifest',
    actor,
    manifest: manifestDocument(overrides),
  });
  given(manifestDecider, submitted).when(submit()).thenRejects(t, 'MANIFEST_EXISTS');
  given(manifestDecider).when(submit({}, otherPublisher)).thenRejects(t, 'MANIFEST_PUBLISHER_MISMATCH');
  given(manifestDecider).when(submit({}, operator)).thenRejects(t, 'FORBIDDEN_ROLE');
  given(manifestDecider)
    .when(submit({ royaltySplits: [{ partyId: 'a', basisPoints: 9000 }] }))
    .thenRejects(t, 'ROYALTY_SPLIT_INVALID');
  const duplicateParty = [
    { partyId: 'a', basisPoints: 5000 },
    { partyId: 'a', basisPoints: 5000 },
  ];
  given(manifestDecider)
    .when(submit({ royaltySplits: duplicateParty }))
    .thenRejects(t, 'ROYALTY_SPLIT_INVALID');
  given(manifestDecider)
    .when(submit({ priceMinor: 0 }))
    .thenRejects(t, 'INVALID_PRICE');
  given(manifestDecider)
    .when(submit({ priceMinor: 19.99 }))
    .thenRejects(t, 'INVALID_PRICE');
  given(manifestDecider)
    .when(submit({ currency: 'eur' }))
    .thenRejects(t, 'INVALID_CURRENCY');
  for (const phantom of ['ZZZ', 'BTC', 'XXX'])
    given(manifestDecider)
      .when(submit({ currency: phantom }))
      .thenRejects(t, 'INVALID_CURRENCY');
});

test('the publisher records the artifact of its submitted manifest when the bytes are the ones the manifest names', (t) => {
  given(manifestDecider, submitted).when(upload()).then(t, [artifactStored()]);
});

test('an upload is refused: wrong size or hash, another publisher, twice, after the decision, for no manifest', (t) => {
  given(manifestDecider, submitted)
    .when(upload({ sizeBytes: 5 }))
    .thenRejects(t, 'ARTIFACT_SIZE_MISMATCH');
  given(manifestDecider, submitted)
    .when(upload({ artifactSha256: 'f'.repeat(64) }))
    .thenRejects(t, 'ARTIFACT_HASH_MISMATCH');
  given(manifestDecider, submitted).when(upload({}, otherPublisher)).thenRejects(t, 'ARTIFACT_NOT_PUBLISHER');
  given(manifestDecider, submitted).when(upload({}, operator)).thenRejects(t, 'FORBIDDEN_ROLE');
  given(manifestDecider, uploaded).when(upload()).thenRejects(t, 'ARTIFACT_ALREADY_STORED');
  given(manifestDecider, manifestApproved()).when(upload()).thenRejects(t, 'MANIFEST_NOT_PENDING');
  given(manifestDecider).when(upload()).thenRejects(t, 'MANIFEST_NOT_FOUND');
});

test('approval is refused until the artifact is stored', (t) => {
  given(manifestDecider, submitted).when(approve()).thenRejects(t, 'ARTIFACT_NOT_STORED');
});

test('a kernel role approves a submitted manifest with the signature over its hash', (t) => {
  given(manifestDecider, uploaded)
    .when(approve(superAdmin))
    .then(t, [
      {
        type: 'manifest.approved',
        data: {
          manifestId: 'm-1',
          manifestSha256: 'b'.repeat(64),
          manifestSignatureId: 'msig-1',
          approvedBy: superAdmin.id,
          signature: SIGNATURE,
        },
      },
    ]);
});

test('approval is refused for a publisher, for the publisher itself, for a missing or decided manifest', (t) => {
  given(manifestDecider, uploaded).when(approve(publisher)).thenRejects(t, 'FORBIDDEN_ROLE');
  given(manifestDecider, uploaded).when(approve(buyer)).thenRejects(t, 'FORBIDDEN_ROLE');
  given(manifestDecider, uploaded)
    .when(approve({ id: publisher.id, role: 'Operator' }))
    .thenRejects(t, 'MANIFEST_SELF_APPROVAL');
  given(manifestDecider).when(approve()).thenRejects(t, 'MANIFEST_NOT_FOUND');
  given(manifestDecider, manifestApproved()).when(approve()).thenRejects(t, 'MANIFEST_NOT_PENDING');
});

test('a kernel role rejects a submitted manifest with a reason; not twice, not without a reason', (t) => {
  given(manifestDecider, submitted)
    .when(reject())
    .then(t, [
      {
        type: 'manifest.rejected',
        data: { manifestId: 'm-1', rejectedBy: operator.id, reason: 'artifact fails the scan' },
      },
    ]);
  given(manifestDecider, submitted).when(reject(operator, ' ')).thenRejects(t, 'INVALID_REASON');
  given(manifestDecider, [
    ...submitted,
    { type: 'manifest.rejected', data: { manifestId: 'm-1', rejectedBy: operator.id, reason: 'no' } },
  ])
    .when(approve())
    .thenRejects(t, 'MANIFEST_NOT_PENDING');
  given(manifestDecider, submitted)
    .when(reject({ id: publisher.id, role: 'DivisionLead' }))
    .thenRejects(t, 'MANIFEST_SELF_APPROVAL');
});
