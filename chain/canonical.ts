/**
 * RFC 8785 (JCS) serialisation, docs/FORMAT.md section 2.
 *
 * `jcs` is the `canonicalize` package. `payloadJcs` and `recordJcs` assemble
 * the same bytes for the fixed record envelope by concatenation, with the
 * members already in JCS order (UTF-16 code unit order), and call `jcs` only
 * for the free-form `data` and `meta`. They are on the append and verify hot
 * paths; test/chain/canonical.unit.test.ts proves them equal to `jcs` of the whole
 * object for arbitrary records.
 */
import canonicalize from 'canonicalize';
import { assert } from '../domain/errors.ts';
import type { JsonValue } from '../domain/json.ts';
import type { Actor, ChainRecord, RecordPayload, RecordSignature } from './record.ts';

export function jcs(value: JsonValue | object): string {
  const text = canonicalize(value);
  assert(text !== undefined, 'value has no JSON form');
  return text;
}

/**
 * JCS strings are ECMAScript JSON.stringify strings (RFC 8785 3.2.2.2), of
 * well-formed Unicode only: JSON.stringify would write a lone surrogate as an
 * escape where RFC 8785 (and `canonicalize`) refuse it. Callers check first
 * (chain/input.ts for the writer, verifier/line.ts for the verifier).
 */
function str(value: string): string {
  assert(value.isWellFormed(), 'a string of a record has a lone surrogate');
  return JSON.stringify(value);
}

function actorJcs(actor: Actor): string {
  return `{"id":${str(actor.id)},"role":${str(actor.role)}}`;
}

function signatureJcs(sig: RecordSignature): string {
  return `{"alg":${str(sig.alg)},"kid":${str(sig.kid)},"value":${str(sig.value)}}`;
}

/**
 * JCS of the payload. Members in order: actor, chain, data, id, meta, seq,
 * stream, ts, type, v, version. Integers serialise as String(n) in JCS.
 */
export function payloadJcs(p: RecordPayload): string {
  return payloadJcsFromParts(p, jcs(p.data), jcs(p.meta));
}

/**
 * JCS of the whole record. Members in order: actor, chain, data, hash, id,
 * meta, prevHash, seq, sig, stream, ts, type, v, version.
 * `dataJcs` and `metaJcs` may be passed when already computed.
 */
export function recordJcs(r: ChainRecord, dataJcs = jcs(r.data), metaJcs = jcs(r.meta)): string {
  return (
    `{"actor":${actorJcs(r.actor)},"chain":${str(r.chain)},"data":${dataJcs},"hash":${str(r.hash)},` +
    `"id":${str(r.id)},"meta":${metaJcs},"prevHash":${str(r.prevHash)},"seq":${r.seq},` +
    `"sig":${signatureJcs(r.sig)},"stream":${str(r.stream)},"ts":${str(r.ts)},"type":${str(r.type)},` +
    `"v":${r.v},"version":${r.version}}`
  );
}

/** payloadJcs with data and meta already serialised (the writer and verifier have them). */
export function payloadJcsFromParts(p: RecordPayload, dataJcs: string, metaJcs: string): string {
  return (
    `{"actor":${actorJcs(p.actor)},"chain":${str(p.chain)},"data":${dataJcs},` +
    `"id":${str(p.id)},"meta":${metaJcs},"seq":${p.seq},"stream":${str(p.stream)},` +
    `"ts":${str(p.ts)},"type":${str(p.type)},"v":${p.v},"version":${p.version}}`
  );
}
