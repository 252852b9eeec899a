/**
 * Previews (docs/DOMAIN.md, "Previews"): one row per preview run, from its start to its outcome, for
 * the buyer who asked for it (GET /previews/{id}).
 */
import { assertNever } from '../../domain/errors.ts';
import type { PreviewEvent } from '../../domain/previews/previewEvents.ts';
import { foldRows, requireRow, type RowFold } from '../foldRows.ts';
import type { Projection } from '../projection.ts';
import type { TableSpec } from '../rowStore.ts';

export const PREVIEWS: TableSpec = {
  name: 'previews',
  key: ['preview_id'],
  columns: {
    preview_id: 'text',
    buyer_id: 'text',
    listing_id: 'text',
    manifest_id: 'text',
    artifact_sha256: 'text',
    status: 'text',
    limits: 'text',
    runner: 'text',
    started_seq: 'int8',
    started_at: 'text',
    exit_code: 'int4',
    signal: 'text',
    duration_ms: 'int8',
    output_sha256: 'text',
    output_size_bytes: 'int8',
    truncated: 'bool',
    killed: 'bool',
    memory_exceeded: 'bool',
    finished_seq: 'int8',
    finished_at: 'text',
  },
};

const previewFold: RowFold<PreviewEvent> = {
  spec: PREVIEWS,
  keyOf: (event) => ({ preview_id: event.data.previewId }),
  evolve(row, event, record) {
    switch (event.type) {
      case 'preview.started':
        return {
          preview_id: event.data.previewId,
          buyer_id: event.data.buyerId,
          listing_id: event.data.listingId,
          manifest_id: event.data.manifestId,
          artifact_sha256: event.data.artifactSha256,
          status: 'running',
          limits: JSON.stringify(event.data.limits),
          runner: event.data.runner,
          started_seq: record.seq,
          started_at: record.ts,
          exit_code: null,
          signal: null,
          duration_ms: null,
          output_sha256: null,
          output_size_bytes: null,
          truncated: null,
          killed: null,
          memory_exceeded: null,
          finished_seq: null,
          finished_at: null,
        };
      case 'preview.exited':
        return {
          ...requireRow(row, record),
          status: 'exited',
          exit_code: event.data.exitCode,
          signal: event.data.signal,
          duration_ms: event.data.durationMs,
          output_sha256: event.data.outputSha256,
          output_size_bytes: event.data.outputSizeBytes,
          truncated: event.data.truncated,
          killed: event.data.killed,
          memory_exceeded: event.data.memoryExceeded,
          finished_seq: record.seq,
          finished_at: record.ts,
        };
      case 'preview.expired':
        return {
          ...requireRow(row, record),
          status: 'expired',
          signal: 'SIGKILL',
          duration_ms: event.data.durationMs,
          output_sha256: event.data.outputSha256,
          output_size_bytes: event.data.outputSizeBytes,
          truncated: false,
          killed: true,
          memory_exceeded: false,
          finished_seq: record.seq,
          finished_at: record.ts,
        };
      default:
        return assertNever(event, 'preview event');
    }
  },
};

export const previewsProjection: Projection = {
  name: 'previews',
  version: 1,
  tables: [PREVIEWS],
  eventTypes: new Set(['preview.started', 'preview.exited', 'preview.expired']),
  async apply(tx, records) {
    await foldRows(tx, previewFold, records);
  },
};
