/**
 * The Merkle tree of the chain commands append to (docs/FORMAT.md section
 * 14), read side: the latest signed checkpoint, the tiles in the tlog-tiles
 * layout (`/tile/<L>/<N>[.p/<W>]`), an inclusion proof file of a record and
 * a consistency proof between two tree sizes. Every size and path is
 * checked before anything is read: a malformed one is 400, one the tree
 * does not have (yet) 400 TREE_SIZE_OUT_OF_RANGE or 404.
 */
import { z } from 'zod';
import { READ_ROLES } from '../../../../domain/authorization.ts';
import { toBase64 } from '../../../../chain/checkpoint.ts';
import { ChainError } from '../../../../chain/errors.ts';
import { formatTlogProof } from '../../../../chain/proofFile.ts';
import { parseTilePath, TILE_WIDTH } from '../../../../chain/tiles.ts';
import { checkpointOrigin, proveConsistency, proveInclusion, rootAt } from '../../../../chain/treeLog.ts';
import { recordTextAt } from '../../../adapters/sql/eventLog.ts';
import { sqlTreeLog } from '../../../adapters/sql/treeLog.ts';
import { CodedError } from '../../../../domain/errors.ts';
import { HttpError } from '../errors.ts';
import { defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';

const NOTE_TYPE = 'text/plain; charset=utf-8';
/** A positive decimal integer as written, at most 2^53 - 1: no exponent, sign, fraction or leading zero. */
const sizeSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'must be a positive integer in decimal digits')
  .transform(Number)
  .refine(Number.isSafeInteger, `must be at most ${Number.MAX_SAFE_INTEGER}`);
/** tlog-tiles: at most 7 segments after `tile/` (level, five x-groups, the last group), then `.p/W` adds one. */
const MAX_TILE_PATH_SEGMENTS = 8;

/**
 * Tiles and the checkpoint are public, as tlog-tiles means them to be: hashes
 * and a signed note, no record content, read by witnesses and auditors that
 * hold no token of ours. A tile never changes once served (migration 0011's
 * trigger: it only grows, and `.p/W` names the first W hashes), so it is
 * cached for good; the checkpoint moves, so it is always revalidated. What
 * they do tell anyone: the chain's record count and when it grows
 * (docs/FORMAT.md section 14, "Tiles").
 */
const TILE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
const CHECKPOINT_CACHE_CONTROL = 'no-cache';

function checkpointMissing(chain: string, detail: string): ChainError {
  return new ChainError('CHECKPOINT_NOT_FOUND', `no checkpoint of ${chain} ${detail}`, { chain });
}

export const transparencyRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/checkpoint',
    operationId: 'getCheckpoint',
    summary:
      "The latest signed checkpoint of the chain's Merkle tree (a C2SP tlog-checkpoint note) with its witnesses' cosignature lines; with CHECKPOINT_WITNESS_QUORUM, the latest that many witnesses cosigned. Public (no token), Cache-Control: no-cache",
    tag: 'chain',
    routeClass: 'query',
    roles: 'public',
    response: z.string(),
    responseContentType: NOTE_TYPE,
    errors: [...QUERY_ERRORS, 404],
    async handle(_request, { deps, db, config }) {
      // With a quorum, only a checkpoint that many witnesses cosigned is published (docs/FORMAT.md section 14).
      const latest = await sqlTreeLog(db).latestCheckpoint(deps.chain, config.checkpoints.quorum);
      if (!latest) throw checkpointMissing(deps.chain, 'yet');
      return {
        text: { contentType: NOTE_TYPE, content: latest.note },
        headers: { 'Cache-Control': CHECKPOINT_CACHE_CONTROL },
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/tile/*path',
    operationId: 'getTile',
    summary:
      'A tile of the Merkle tree, tlog-tiles layout: `/tile/<L>/<N>` (256 hashes) or `/tile/<L>/<N>.p/<W>` (the first W); the concatenated 32-byte hashes. Public (no token); a tile never changes: Cache-Control: public, max-age=31536000, immutable',
    tag: 'chain',
    routeClass: 'query',
    roles: 'public',
    params: z.object({
      path: z
        .array(z.string().max(8))
        .min(2)
        .max(MAX_TILE_PATH_SEGMENTS)
        .describe('the rest of the path: `<L>/<N>` or `<L>/<N>.p/<W>`, N written in groups of three digits'),
    }),
    response: z.string(),
    responseContentType: 'application/octet-stream',
    errors: [...QUERY_ERRORS, 404],
    async handle({ params }, { deps, db }) {
      const tile = parseTilePath(`tile/${params.path.join('/')}`);
      if (!tile)
        throw new CodedError('INVALID_INPUT', 'not a tile path: /tile/<L>/<N> or /tile/<L>/<N>.p/<W> (1 <= W <= 255)', {
          path: params.path.join('/'),
        });
      const hashes = (await sqlTreeLog(db).tileReader(deps.chain)(tile.level, tile.index, tile.width)).slice(
        0,
        tile.width,
      );
      // A full tile only once it is full; a partial one only as wide as asked (a tile's prefix never changes).
      if (hashes.length < tile.width || (tile.width === TILE_WIDTH) !== (hashes.length === TILE_WIDTH))
        throw new HttpError('NOT_FOUND', `the tree of ${deps.chain} has no such tile yet`, { ...tile });
      const bytes = Buffer.concat(hashes);
      return {
        headers: { 'Cache-Control': TILE_CACHE_CONTROL },
        stream: {
          contentType: 'application/octet-stream',
          contentLength: bytes.length,
          body: (async function* () {
            yield bytes;
          })(),
        },
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/proof/inclusion',
    operationId: 'getInclusionProof',
    summary:
      'The inclusion proof file of record `seq` (C2SP tlog-proof: the record, its leaf index, the proof, the checkpoint), against the checkpoint of `size` or the least one covering it; `chainbook verify-inclusion` checks it',
    tag: 'chain',
    routeClass: 'query',
    roles: READ_ROLES.chain,
    query: z.object({ seq: sizeSchema, size: sizeSchema.optional() }),
    response: z.string(),
    responseContentType: NOTE_TYPE,
    errors: [...QUERY_ERRORS, 404],
    async handle({ query }, { deps, db, config }) {
      const storage = sqlTreeLog(db);
      const { quorum } = config.checkpoints;
      if (query.size !== undefined && query.seq > query.size)
        throw new ChainError('TREE_SIZE_OUT_OF_RANGE', `record ${query.seq} is not in a tree of ${query.size}`, {
          seq: query.seq,
          size: query.size,
        });
      const candidate =
        query.size === undefined
          ? await storage.checkpointCovering(deps.chain, query.seq, quorum)
          : await storage.checkpointAt(deps.chain, query.size);
      const checkpoint = candidate && candidate.cosigners >= quorum ? candidate : undefined;
      if (!checkpoint)
        throw checkpointMissing(
          deps.chain,
          query.size === undefined ? `covers record ${query.seq} yet` : `has size ${query.size}`,
        );
      const record = await recordTextAt(db, deps.chain, query.seq);
      if (record === undefined) throw checkpointMissing(deps.chain, `covers record ${query.seq}`);
      const hashes = await proveInclusion(storage, deps.chain, query.seq - 1, checkpoint.size);
      return {
        text: {
          contentType: NOTE_TYPE,
          content: formatTlogProof({ record, index: query.seq - 1, hashes, checkpoint: checkpoint.note }),
        },
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/proof/consistency',
    operationId: 'getConsistencyProof',
    summary:
      'The RFC 9162 consistency proof from the tree of `old` leaves to the tree of `new`, with both roots (base64)',
    tag: 'chain',
    routeClass: 'query',
    roles: READ_ROLES.chain,
    query: z.object({ old: sizeSchema, new: sizeSchema }),
    response: z.object({
      chain: z.string(),
      origin: z.string(),
      oldSize: z.number().int(),
      newSize: z.number().int(),
      oldRoot: z.string(),
      newRoot: z.string(),
      proof: z.array(z.string()).describe('base64 hashes, the innermost first'),
    }),
    errors: QUERY_ERRORS,
    async handle({ query }, { deps, db, config }) {
      const storage = sqlTreeLog(db);
      const proof = await proveConsistency(storage, deps.chain, query.old, query.new);
      return {
        body: {
          chain: deps.chain,
          origin: checkpointOrigin(config.checkpoints.origin, deps.chain),
          oldSize: query.old,
          newSize: query.new,
          oldRoot: toBase64(await rootAt(storage, deps.chain, query.old)),
          newRoot: toBase64(await rootAt(storage, deps.chain, query.new)),
          proof: proof.map(toBase64),
        },
      };
    },
  }),
];
