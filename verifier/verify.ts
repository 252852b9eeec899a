/**
 * audit-verify: docs/FORMAT.md section 5, in order, per record. Returns a
 * report with the first failure as a finding; never throws on bad data.
 */
import { parseDelegation, SIGNER_EVENT_TYPES, type Delegation, type DelegationData } from '../chain/delegation.ts';
import { ZERO_HASH } from '../chain/record.ts';
import type { LineCheck, RecordFacts, SignatureFailure } from './line.ts';
import type { LineChecker, RecordReader, SourceFindingReason } from './reader.ts';
import { embeddedSignatureProblem } from './embedded.ts';
import { SeenRecords, type Bookkeeping, type DeferredFinding } from './seenRecords.ts';

export type FindingReason =
  | 'malformed-record'
  | 'wrong-chain'
  | 'seq-gap'
  | 'prev-hash-mismatch'
  | 'hash-mismatch'
  | SignatureFailure
  | 'invalid-delegation'
  | 'embedded-signature-invalid'
  | 'stream-version-gap'
  | 'duplicate-id'
  | 'missing-predecessor'
  | 'no-records'
  | 'head-mismatch'
  | SourceFindingReason
  | 'database-behind-archive'
  | 'database-mismatch';

export interface Finding {
  chain: string;
  seq: number;
  reason: FindingReason;
  message: string;
  /** The archive batch concerned, for findings about the archive. */
  batch?: string;
}

export interface ChainSummary {
  chain: string;
  /** First seq checked; 0 when nothing was. */
  fromSeq: number;
  /** Last seq checked; 0 when nothing was. */
  toSeq: number;
  records: number;
  /** hash of the last record checked (the head, when checked to the end). */
  lastHash: string;
}

/** A record signed by a break-glass signer (one a signing.breakglass_used record names). */
export interface BreakglassUse {
  chain: string;
  seq: number;
  id: string;
  type: string;
  ts: string;
  kid: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Records signed by break-glass signers, in chain order; filled when asked for (reportBreakglass). */
  breakglass?: BreakglassUse[];
  finding: Finding | undefined;
  source: string;
  chains: ChainSummary[];
  records: number;
  elapsedMs: number;
}

export interface VerifyProgress {
  chain: string;
  checked: number;
  total: number;
}

export interface VerifyOptions {
  /** Chains to check; default every chain in the source. */
  chains?: readonly string[];
  fromSeq?: number;
  toSeq?: number;
  /** Check only the last `limit` records of each chain, anchored on their predecessor's hash. */
  limit?: number;
  /** The predecessor's hash when starting after seq 1, given by the auditor instead of read from the source. */
  prevHash?: string;
  onProgress?: (progress: VerifyProgress) => void;
  /** Pages being checked ahead of the ordered pass. */
  maxPagesInFlight?: number;
  /**
   * Called with each page of record texts once every record in it passed, in
   * chain order, before the next page is consumed (replay folds what it is
   * given here, so it only ever folds verified records).
   */
  onVerifiedPage?: (chain: string, lines: readonly string[]) => Promise<void>;
  /** List every record signed by a break-glass signer (audit-verify --report-breakglass). */
  reportBreakglass?: boolean;
  /**
   * A memory budget for the ids and stream versions checks 5 and 6 remember,
   * and where to spill past it (verifier/seenRecords.ts). Unset: all in
   * memory. Ignored with onVerifiedPage, whose pages must have passed every
   * check when handed over, which a spilled check only knows at the end.
   */
  bookkeeping?: Bookkeeping;
}

/** Break-glass uses listed in one report; past this the report says it was cut. */
export const MAX_BREAKGLASS_REPORTED = 100_000;

const DEFAULT_PAGES_IN_FLIGHT = 8;

/** Ordered state of one chain: checks 2, 3 and 6 and the decision on 1, 4, 5. */
class ChainCursor {
  readonly chain: string;
  readonly fromSeq: number;
  expectedSeq: number;
  prevHash: string;
  records = 0;
  /** Stream versions of this chain and ids of every chain of the run: ids are unique across all chains (docs/FORMAT.md section 1). */
  readonly #seen: SeenRecords;
  readonly #checker: LineChecker;
  /** Session signers introduced by verified signer.delegated records of this chain (docs/FORMAT.md section 4b). */
  readonly #delegations = new Map<string, Delegation>();
  readonly #breakglassKids = new Set<string>();
  readonly breakglass: BreakglassUse[] | undefined;

  constructor(
    chain: string,
    fromSeq: number,
    prevHash: string,
    seen: SeenRecords,
    checker: LineChecker,
    reportBreakglass: boolean,
  ) {
    this.chain = chain;
    this.fromSeq = fromSeq;
    this.expectedSeq = fromSeq;
    this.prevHash = prevHash;
    this.#seen = seen;
    this.#checker = checker;
    this.breakglass = reportBreakglass ? [] : undefined;
  }

  /** The first failure of one record, in the order of docs/FORMAT.md section 5; undefined when it passes. `text` is the record line, for a recheck. */
  check(checked: LineCheck, text: string, embeddedProblem?: string): Finding | undefined {
    const fail = (reason: FindingReason, message: string, seq = this.expectedSeq): Finding => ({
      chain: this.chain,
      seq,
      reason,
      message,
    });
    let line = checked;
    if (!line.ok) return fail('malformed-record', line.malformed);
    const r = line.facts;
    if (r.chain !== this.chain) return fail('wrong-chain', `record of chain ${r.chain} found in chain ${this.chain}`);
    if (r.seq !== this.expectedSeq) return fail('seq-gap', `expected seq ${this.expectedSeq}, found ${r.seq}`);
    if (r.prevHash !== this.prevHash)
      return fail('prev-hash-mismatch', `prevHash ${r.prevHash} is not the previous record's hash ${this.prevHash}`);
    if (!line.hashOk) return fail('hash-mismatch', 'hash does not recompute from the payload and prevHash');
    // A page checked before its chain's delegation was learned knew nothing of the session signer.
    if (!line.signature.ok && line.signature.reason === 'unknown-signer' && this.#delegations.has(r.kid))
      line = this.#checker.recheck(text);
    if (!line.ok) return fail('malformed-record', line.malformed);
    if (!line.signature.ok) return fail(line.signature.reason, line.signature.message);
    if (line.signature.session) {
      const sessionProblem = this.#checkSession(r);
      if (sessionProblem) return fail(sessionProblem[0], sessionProblem[1]);
    }
    if (embeddedProblem) return fail('embedded-signature-invalid', embeddedProblem);
    const versionProblem = this.#seen.version(r.stream, r.version, r.seq);
    if (versionProblem) return fail('stream-version-gap', versionProblem);
    if (!this.#seen.id(r.id, r.seq)) return fail('duplicate-id', `event id ${r.id} appears twice`);
    if (r.type === SIGNER_EVENT_TYPES.delegated) {
      const problem = this.#learnDelegation(line.data);
      if (problem) return fail('invalid-delegation', problem);
    }
    this.#noteBreakglass(r, line.data);
    this.expectedSeq += 1;
    this.prevHash = r.hash;
    this.records += 1;
    return undefined;
  }

  /** docs/FORMAT.md section 4b for a record its session signer's key verified: a delegation in this chain, inside its window, not a delegation itself. */
  #checkSession(r: RecordFacts): [FindingReason, string] | undefined {
    const delegation = this.#delegations.get(r.kid);
    if (!delegation)
      return [
        'unknown-signer',
        `session signer ${r.kid} has no verified signer.delegated record earlier in chain ${this.chain}`,
      ];
    if (r.type === SIGNER_EVENT_TYPES.delegated)
      return [
        'invalid-delegation',
        `session signer ${r.kid} signed a signer.delegated record; only registry signers delegate`,
      ];
    const tsMs = Date.parse(r.ts);
    if (tsMs < delegation.notBeforeMs || tsMs >= delegation.notAfterMs) {
      return [
        'outside-validity-window',
        `record time is outside session signer ${r.kid}'s window [${delegation.notBefore}, ${delegation.notAfter})`,
      ];
    }
    return undefined;
  }

  /**
   * For a range that starts after seq 1: adopts the delegation of `kid` from
   * before the range when its record checks on its own (hash, a registry
   * signature, a signer.delegated of this chain for this kid). Its link to the
   * range is not checked, as the range's anchor is not: both are trusted.
   */
  adoptEarlierDelegation(text: string, kid: string): boolean {
    const line = this.#checker.recheck(text);
    if (!line.ok || !line.hashOk || !line.signature.ok || line.signature.session) return false;
    const r = line.facts;
    if (r.type !== SIGNER_EVENT_TYPES.delegated || r.chain !== this.chain || r.seq >= this.fromSeq) return false;
    const delegation = parseDelegation(line.data);
    if (typeof delegation === 'string' || delegation.kid !== kid || this.#delegations.has(kid)) return false;
    this.#delegations.set(kid, delegation);
    this.#checker.learnDelegation(line.data as DelegationData);
    return true;
  }

  #learnDelegation(data: unknown): string | undefined {
    const delegation = parseDelegation(data);
    if (typeof delegation === 'string') return `signer.delegated: ${delegation}`;
    if (this.#delegations.has(delegation.kid))
      return `session signer ${delegation.kid} is delegated twice in chain ${this.chain}`;
    if (this.#checker.isRegistered(delegation.kid))
      return `${delegation.kid} is a registry signer; a session signer never is`;
    this.#delegations.set(delegation.kid, delegation);
    this.#checker.learnDelegation(data as DelegationData);
    return undefined;
  }

  #noteBreakglass(r: RecordFacts, data: unknown): void {
    if (!this.breakglass) return;
    if (r.type === SIGNER_EVENT_TYPES.breakglassUsed) {
      const kid = (data as { kid?: unknown } | undefined)?.kid;
      if (typeof kid === 'string') this.#breakglassKids.add(kid);
    }
    if (this.#breakglassKids.has(r.kid) && this.breakglass.length < MAX_BREAKGLASS_REPORTED) {
      this.breakglass.push({ chain: this.chain, seq: r.seq, id: r.id, type: r.type, ts: r.ts, kid: r.kid });
    }
  }
}

interface Range {
  fromSeq: number;
  toSeq: number;
  toEnd: boolean;
  /** Whether a start was asked (fromSeq or limit): only then are lines before it left out; otherwise every line is checked. */
  startAsked: boolean;
}

function rangeOf(options: VerifyOptions, lastSeq: number): Range {
  const toSeq = Math.min(options.toSeq ?? lastSeq, lastSeq);
  let fromSeq = options.fromSeq ?? 1;
  if (options.limit !== undefined) fromSeq = Math.max(fromSeq, toSeq - options.limit + 1, 1);
  return {
    fromSeq,
    toSeq,
    toEnd: options.toSeq === undefined || options.toSeq >= lastSeq,
    startAsked: options.fromSeq !== undefined || options.limit !== undefined,
  };
}

async function anchor(
  reader: RecordReader,
  chain: string,
  fromSeq: number,
  given: string | undefined,
): Promise<string | Finding> {
  if (fromSeq <= 1) return ZERO_HASH;
  if (given !== undefined) return given;
  const hash = await reader.hashAt(chain, fromSeq - 1);
  if (hash !== undefined) return hash;
  return {
    chain,
    seq: fromSeq - 1,
    reason: 'missing-predecessor',
    message: `record ${fromSeq - 1}, whose hash anchors the check, is missing or unreadable`,
  };
}

interface ChainResult {
  summary: ChainSummary;
  finding: Finding | undefined;
  /** Whether the finding is the source's own (verifier/reader.ts sourceFinding): at one seq it comes first. */
  sourced: boolean;
  breakglass: BreakglassUse[] | undefined;
  /** The first seq of the chain's range. */
  fromSeq: number;
}

function findingOf(chain: string, deferred: DeferredFinding): Finding {
  return { chain, seq: deferred.seq, reason: deferred.reason, message: deferred.message };
}

/** The summary and break-glass uses of a chain whose check stops at `seq` (a finding left to the merge), as if it had stopped there. */
async function stoppedAt(reader: RecordReader, result: ChainResult, finding: Finding): Promise<ChainResult> {
  const { chain } = result.summary;
  const records = Math.max(0, finding.seq - result.fromSeq);
  const lastHash = records > 0 ? ((await reader.hashAt(chain, finding.seq - 1)) ?? '') : '';
  return {
    ...result,
    summary: {
      chain,
      fromSeq: records > 0 ? result.fromSeq : 0,
      toSeq: records > 0 ? finding.seq - 1 : 0,
      records,
      lastHash,
    },
    finding,
    sourced: false,
    breakglass: result.breakglass?.filter((use) => use.seq < finding.seq),
  };
}

async function verifyChain(
  reader: RecordReader,
  checker: LineChecker,
  chain: string,
  chainIndex: number,
  options: VerifyOptions,
  seen: SeenRecords,
): Promise<ChainResult> {
  const lastSeq = await reader.lastSeq(chain);
  const range = rangeOf(options, lastSeq);
  const summary: ChainSummary = { chain, fromSeq: 0, toSeq: 0, records: 0, lastHash: '' };
  const anchored = await anchor(reader, chain, range.fromSeq, options.prevHash);
  const result = { summary, sourced: false, breakglass: undefined, fromSeq: range.fromSeq };
  if (typeof anchored !== 'string') return { ...result, finding: anchored };
  seen.startChain(chainIndex, range.fromSeq);
  const cursor = new ChainCursor(chain, range.fromSeq, anchored, seen, checker, options.reportBreakglass === true);
  const total = Math.max(0, range.toSeq - range.fromSeq + 1);
  const pageFinding = await checkPages(reader, range, checker, cursor, options, total, seen);
  // Versions left to the merge: the in-memory check would have stopped at the first of them.
  const deferred = await seen.endChain();
  const checked =
    deferred && (pageFinding === undefined || deferred.seq <= pageFinding.seq)
      ? findingOf(chain, deferred)
      : pageFinding;
  // A source that stopped serving at a problem of its own (an archive batch) reports it, unless a record before it failed.
  const sourced = reader.sourceFinding?.(chain);
  const finding = sourced && (checked === undefined || sourced.seq <= checked.seq) ? sourced : checked;
  Object.assign(summary, {
    fromSeq: cursor.records > 0 ? range.fromSeq : 0,
    toSeq: cursor.expectedSeq - 1 >= range.fromSeq ? cursor.expectedSeq - 1 : 0,
    records: cursor.records,
    lastHash: cursor.records > 0 ? cursor.prevHash : '',
  });
  const done = {
    ...result,
    finding,
    sourced: finding !== undefined && finding === sourced,
    breakglass: cursor.breakglass,
  };
  if (finding && finding !== pageFinding && finding !== sourced) return stoppedAt(reader, done, finding);
  if (finding || !range.toEnd) return done;
  // Nothing checked is not a pass.
  if (cursor.records === 0)
    return {
      ...done,
      finding: {
        chain,
        seq: range.fromSeq,
        reason: 'no-records',
        message: `no record of chain ${chain} is here to check (seq ${range.fromSeq} to ${range.toSeq})`,
      },
    };
  return { ...done, finding: await checkClaimedHead(reader, cursor) };
}

/**
 * Pages are read and checked ahead, several at once, and consumed in order.
 * The next read is started as soon as the one before it came back, while
 * earlier pages are being consumed: the source's latency (a database round
 * trip) overlaps the ordered pass instead of adding to it.
 */
async function checkPages(
  reader: RecordReader,
  range: Range,
  checker: LineChecker,
  cursor: ChainCursor,
  options: VerifyOptions,
  total: number,
  seen: SeenRecords,
): Promise<Finding | undefined> {
  // Unasked, the read starts before any seq, so a line before seq 1 is read and reported, never skipped.
  const from = range.startAsked ? range.fromSeq : Number.MIN_SAFE_INTEGER;
  const ahead = readAhead(reader.pages(cursor.chain, from, range.toSeq), checker, options.maxPagesInFlight);
  try {
    for (;;) {
      const page = await ahead.next();
      if (!page) return undefined;
      const checks = await page.checks;
      for (const [index, line] of checks.entries()) {
        const finding = await checkWithLookback(reader, checker, cursor, line, page.lines[index]!);
        if (finding) return finding;
      }
      await seen.settle();
      await options.onVerifiedPage?.(cursor.chain, page.lines);
      options.onProgress?.({ chain: cursor.chain, checked: cursor.records, total });
    }
  } finally {
    await ahead.close();
  }
}

interface PageInCheck {
  lines: readonly string[];
  checks: Promise<LineCheck[]>;
}

/** At most `maxInFlight` pages read and handed to the checker ahead of the one consumed; one read at a time. */
function readAhead(
  pages: AsyncIterable<readonly string[]>,
  checker: LineChecker,
  maxInFlight = DEFAULT_PAGES_IN_FLIGHT,
): { next(): Promise<PageInCheck | undefined>; close(): Promise<void> } {
  const iterator = pages[Symbol.asyncIterator]();
  const inFlight: PageInCheck[] = [];
  let reading: Promise<void> | undefined;
  let exhausted = false;
  let closed = false;
  let failed: { error: unknown } | undefined;
  const read = (): void => {
    if (reading || exhausted || failed || closed || inFlight.length >= maxInFlight) return;
    reading = iterator.next().then(
      (next) => {
        reading = undefined;
        if (next.done) exhausted = true;
        else inFlight.push({ lines: next.value, checks: checker.check(next.value) });
        read();
      },
      (error: unknown) => {
        reading = undefined;
        failed = { error };
      },
    );
  };
  return {
    async next() {
      read();
      while (inFlight.length === 0 && reading) await reading;
      const page = inFlight.shift();
      if (!page && failed) throw failed.error;
      read();
      return page;
    },
    async close() {
      // No read starts after this one: the read in flight comes back with a page whose check is awaited below.
      closed = true;
      await reading;
      // Settle what is still running so no rejection goes unobserved.
      await Promise.allSettled(inFlight.map((page) => page.checks));
      if (!exhausted && !failed) await iterator.return?.();
    },
  };
}

/** cursor.check, and when a range starting after seq 1 meets a session signer it has not seen, its delegation from before the range. */
async function checkWithLookback(
  reader: RecordReader,
  checker: LineChecker,
  cursor: ChainCursor,
  line: LineCheck,
  text: string,
): Promise<Finding | undefined> {
  const embedded = line.ok ? await embeddedSignatureProblem(reader, checker, line.facts, line.data) : undefined;
  const finding = cursor.check(line, text, embedded);
  if (finding?.reason !== 'unknown-signer' || cursor.fromSeq <= 1 || !reader.delegationRecord || !line.ok)
    return finding;
  const earlier = await reader.delegationRecord(cursor.chain, line.facts.kid, cursor.fromSeq);
  if (earlier === undefined || !cursor.adoptEarlierDelegation(earlier, line.facts.kid)) return finding;
  return cursor.check(line, text, embedded);
}

async function checkClaimedHead(reader: RecordReader, cursor: ChainCursor): Promise<Finding | undefined> {
  const claimed = await reader.claimedHead?.(cursor.chain);
  if (!claimed) return undefined;
  const lastSeq = cursor.expectedSeq - 1;
  if (claimed.seq === lastSeq && (lastSeq === 0 || claimed.hash === cursor.prevHash)) return undefined;
  const [seq, message] =
    claimed.seq > lastSeq
      ? [
          lastSeq + 1,
          `the head says seq ${claimed.seq} but the chain ends at ${lastSeq}: records are missing at the tail`,
        ]
      : claimed.seq < lastSeq
        ? [claimed.seq + 1, `the head says seq ${claimed.seq} but the chain goes on to ${lastSeq}`]
        : [lastSeq, `the head's hash ${claimed.hash} is not the last record's hash ${cursor.prevHash}`];
  return { chain: cursor.chain, seq, reason: 'head-mismatch', message };
}

/** Whether a duplicate id left to the merge comes before the finding of chain `index`: at one seq, only the source's own findings and stream versions come before it. */
function duplicateFirst(duplicate: DeferredFinding, result: ChainResult | undefined, index: number): boolean {
  const finding = result?.finding;
  if (!finding || duplicate.chainIndex < index) return true;
  if (duplicate.chainIndex > index || duplicate.seq > finding.seq) return false;
  return duplicate.seq < finding.seq || (!result.sourced && finding.reason !== 'stream-version-gap');
}

async function verifyChains(
  reader: RecordReader,
  checker: LineChecker,
  chains: readonly string[],
  options: VerifyOptions,
  seen: SeenRecords,
): Promise<ChainResult[]> {
  const results: ChainResult[] = [];
  for (const [index, chain] of chains.entries()) {
    const result = await verifyChain(reader, checker, chain, index, options, seen);
    results.push(result);
    if (result.finding) break;
  }
  // Ids left to the merge: the in-memory check would have stopped at the first duplicate.
  const duplicate = await seen.end();
  if (!duplicate || !duplicateFirst(duplicate, results.at(-1), results.length - 1)) return results;
  const stopped = results[duplicate.chainIndex]!;
  return [
    ...results.slice(0, duplicate.chainIndex),
    await stoppedAt(reader, stopped, findingOf(stopped.summary.chain, duplicate)),
  ];
}

export async function verify(
  reader: RecordReader,
  checker: LineChecker,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const started = performance.now();
  const chains = options.chains ?? (await reader.chains());
  const seen = new SeenRecords(options.onVerifiedPage ? undefined : options.bookkeeping);
  let results: ChainResult[];
  try {
    results = await verifyChains(reader, checker, chains, options, seen);
  } finally {
    await seen.close();
  }
  const summaries = results.map((result) => result.summary);
  const breakglass = results.flatMap((result) => result.breakglass ?? []);
  let finding = results.at(-1)?.finding;
  if (chains.length === 0)
    finding = { chain: '', seq: 0, reason: 'no-records', message: 'there are no records here to check' };
  return {
    ok: finding === undefined,
    finding,
    ...(options.reportBreakglass ? { breakglass } : {}),
    source: reader.description,
    chains: summaries,
    records: summaries.reduce((sum, summary) => sum + summary.records, 0),
    elapsedMs: Math.round(performance.now() - started),
  };
}
