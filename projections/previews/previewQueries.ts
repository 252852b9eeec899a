/** Reads of the previews projection (projections/previews/previewsProjection.ts). */
import type { PreviewLimits } from '../../domain/previews/previewEvents.ts';
import type { ProjectionExecutor } from '../rowStore.ts';

export const PREVIEW_STATUSES = ['running', 'exited', 'expired'] as const;

export interface PreviewView {
  previewId: string;
  buyerId: string;
  listingId: string;
  manifestId: string;
  artifactSha256: string;
  status: (typeof PREVIEW_STATUSES)[number];
  limits: PreviewLimits;
  runner: string;
  startedSeq: number;
  startedAt: string;
  exitCode: number | null;
  signal: string | null;
  durationMs: number | null;
  outputSha256: string | null;
  outputSizeBytes: number | null;
  truncated: boolean | null;
  killed: boolean | null;
  memoryExceeded: boolean | null;
  finishedSeq: number | null;
  finishedAt: string | null;
}

const number = (value: unknown): number | null => (value === null ? null : Number(value));

export async function findPreview(tx: ProjectionExecutor, previewId: string): Promise<PreviewView | undefined> {
  const { rows } = await tx.query<Record<string, unknown>>(`SELECT * FROM previews WHERE preview_id = $1`, [previewId]);
  const row = rows[0];
  if (!row) return undefined;
  return {
    previewId: row['preview_id'] as string,
    buyerId: row['buyer_id'] as string,
    listingId: row['listing_id'] as string,
    manifestId: row['manifest_id'] as string,
    artifactSha256: row['artifact_sha256'] as string,
    status: row['status'] as PreviewView['status'],
    limits: JSON.parse(row['limits'] as string) as PreviewLimits,
    runner: row['runner'] as string,
    startedSeq: Number(row['started_seq']),
    startedAt: row['started_at'] as string,
    exitCode: number(row['exit_code']),
    signal: row['signal'] as string | null,
    durationMs: number(row['duration_ms']),
    outputSha256: row['output_sha256'] as string | null,
    outputSizeBytes: number(row['output_size_bytes']),
    truncated: row['truncated'] as boolean | null,
    killed: row['killed'] as boolean | null,
    memoryExceeded: row['memory_exceeded'] as boolean | null,
    finishedSeq: number(row['finished_seq']),
    finishedAt: row['finished_at'] as string | null,
  };
}

/** Runs recorded as started before `startedBefore` (RFC 3339) and not finished: at most `limit`, oldest first. */
export async function unfinishedPreviews(
  tx: ProjectionExecutor,
  startedBefore: string,
  limit: number,
): Promise<{ previewId: string; limits: PreviewLimits }[]> {
  const { rows } = await tx.query<{ preview_id: string; limits: string }>(
    `SELECT preview_id, limits FROM previews WHERE status = 'running' AND started_at < $1 ORDER BY started_seq LIMIT $2`,
    [startedBefore, limit],
  );
  return rows.map((row) => ({ previewId: row.preview_id, limits: JSON.parse(row.limits) as PreviewLimits }));
}
