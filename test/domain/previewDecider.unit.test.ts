/**
 * The preview decider (domain/previews/previewDecider.ts): a buyer starts a preview of an active
 * listing whose approved manifest declares one and has its artifact stored, with the manifest's limits
 * each at most the operator's maximum; the outcome is recorded once, by the service.
 */
import test from 'ava';
import { fold } from '../../domain/decider.ts';
import { listingDecider } from '../../domain/catalog/listingDecider.ts';
import { manifestDecider } from '../../domain/manifests/manifestDecider.ts';
import type { ManifestDocument } from '../../domain/manifests/manifestEvents.ts';
import { previewDecider, type PreviewCommand } from '../../domain/previews/previewDecider.ts';
import {
  previewDeclarationSchema,
  type PreviewEvent,
  type PreviewExited,
  type PreviewStarted,
} from '../../domain/previews/previewEvents.ts';
import { artifactStored, listingPublished, manifestApproved, manifestDocument } from '../helpers/fixtures.ts';
import { given } from '../helpers/given.ts';

const buyer = { id: 'buyer-1', role: 'Buyer' };
const service = { id: 'preview-runner', role: 'Service' };
const MAXIMUMS = {
  cpuTimeSeconds: 10,
  memoryBytes: 256 * 1024 * 1024,
  processCount: 64,
  openFileCount: 128,
  outputBytes: 1024 * 1024,
  wallClockMs: 30_000,
};
const declared = manifestDocument({
  preview: { entryPoint: 'bin/demo', args: ['--small'], limits: { cpuTimeSeconds: 2, outputBytes: 4096 } },
});
const listing = fold(listingDecider, [{ type: 'listing.published', data: listingPublished() }]);

function start(manifest: ManifestDocument, overrides: Partial<Extract<PreviewCommand, { type: 'StartPreview' }>> = {}) {
  return {
    type: 'StartPreview' as const,
    actor: buyer,
    previewId: 'pv-1',
    listing,
    manifest: fold(manifestDecider, manifestApproved(manifest)),
    maxLimits: MAXIMUMS,
    seed: 'seed-1',
    runner: 'bubblewrap@host-1',
    ...overrides,
  };
}

const started: PreviewStarted = {
  previewId: 'pv-1',
  listingId: 'l-1',
  manifestId: 'm-1',
  buyerId: buyer.id,
  artifactSha256: declared.artifactSha256,
  entryPoint: 'bin/demo',
  args: ['--small'],
  seed: 'seed-1',
  limits: { ...MAXIMUMS, cpuTimeSeconds: 2, outputBytes: 4096 },
  runner: 'bubblewrap@host-1',
};
const exited: PreviewExited = {
  previewId: 'pv-1',
  exitCode: 0,
  signal: null,
  durationMs: 40,
  outputSha256: 'c'.repeat(64),
  outputSizeBytes: 12,
  truncated: false,
  killed: false,
  memoryExceeded: false,
};
const startedEvents: PreviewEvent[] = [{ type: 'preview.started', data: started }];

test('a buyer starts the declared preview of an active listing: the manifest’s limits, the maximum where it names none', (t) => {
  given(previewDecider).when(start(declared)).then(t, startedEvents);
});

test('a manifest asking for more than the operator’s maximum is refused', (t) => {
  const greedy = manifestDocument({
    preview: { entryPoint: 'run', args: [], limits: { memoryBytes: MAXIMUMS.memoryBytes + 1 } },
  });
  given(previewDecider).when(start(greedy)).thenRejects(t, 'PREVIEW_LIMITS_ABOVE_MAXIMUM');
});

test('no preview declared, a delisted listing, an artifact not stored, a non-buyer: each refused', (t) => {
  given(previewDecider).when(start(manifestDocument())).thenRejects(t, 'PREVIEW_NOT_DECLARED');
  const delisted = fold(listingDecider, [
    { type: 'listing.published', data: listingPublished() },
    { type: 'listing.delisted', data: { listingId: 'l-1', delistedBy: 'op-1', reason: 'takedown' } },
  ]);
  given(previewDecider)
    .when(start(declared, { listing: delisted }))
    .thenRejects(t, 'LISTING_NOT_ACTIVE');
  const withoutArtifact = fold(
    manifestDecider,
    manifestApproved(declared).filter((event) => event.type !== artifactStored(declared).type),
  );
  given(previewDecider)
    .when(start(declared, { manifest: withoutArtifact }))
    .thenRejects(t, 'PREVIEW_ARTIFACT_MISSING');
  given(previewDecider)
    .when(start(declared, { actor: { id: 'p-1', role: 'Publisher' } }))
    .thenRejects(t, 'FORBIDDEN_ROLE');
  given(previewDecider, startedEvents).when(start(declared)).thenRejects(t, 'PREVIEW_EXISTS');
});

test('the outcome is recorded once, by the service; an unknown preview has none', (t) => {
  const exit = { type: 'RecordPreviewExit' as const, actor: service, outcome: exited };
  given(previewDecider, startedEvents)
    .when(exit)
    .then(t, [{ type: 'preview.exited', data: exited }]);
  const expiry = {
    type: 'RecordPreviewExpiry' as const,
    actor: service,
    outcome: { previewId: 'pv-1', durationMs: 30_001, ttlMs: 30_000, outputSha256: 'd'.repeat(64), outputSizeBytes: 0 },
  };
  given(previewDecider, startedEvents)
    .when(expiry)
    .then(t, [{ type: 'preview.expired', data: expiry.outcome }]);
  given(previewDecider, [...startedEvents, { type: 'preview.exited', data: exited }])
    .when(expiry)
    .thenRejects(t, 'PREVIEW_ALREADY_FINISHED');
  given(previewDecider).when(exit).thenRejects(t, 'PREVIEW_NOT_FOUND');
  given(previewDecider, startedEvents)
    .when({ ...exit, actor: buyer })
    .thenRejects(t, 'FORBIDDEN_ROLE');
});

test('a declared entry point is a relative path of plain names', (t) => {
  const accepts = (entryPoint: string) =>
    previewDeclarationSchema.safeParse({ entryPoint, args: [], limits: {} }).success;
  t.true(accepts('run'));
  t.true(accepts('bin/demo.sh'));
  for (const bad of ['../run', 'bin/../../run', 'a/./b', '.', '..', '/usr/bin/sh', 'bin//run', 'bin/', '', 'a b'])
    t.false(accepts(bad), bad);
});
