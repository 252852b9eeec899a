/**
 * The content inspector: what a publisher submits (manifest text, listing
 * text, an artifact's bytes) is classified CLEAR, QUARANTINE or BLOCK by a
 * list of plugins, the most severe tier winning (docs/DOMAIN.md, "Content
 * inspection").
 *
 * A plugin is a plain object `{ name, appliesTo, inspect }`. Each runs with
 * its own timeout; a plugin that throws, or does not answer in time, does not
 * fail the inspection and never hangs it: its result is recorded with outcome
 * `error` or `timeout` and the tier configured for failures (default
 * QUARANTINE, so a broken plugin holds content for a moderator instead of
 * letting it through). Plugins run in parallel.
 *
 * Plugins see the content; the result never carries it: labels and reasons
 * name what was found (`secret.pem-private-key`, "a PEM private key at byte
 * 120"), not the matched text, because the result is recorded in the chain.
 */
import pLimit from 'p-limit';
import { assert } from '../../domain/errors.ts';
import type { Actor } from '../../domain/actor.ts';

export const TIERS = ['CLEAR', 'QUARANTINE', 'BLOCK'] as const;
export type Tier = (typeof TIERS)[number];

/** Where the content comes from: the plugin list and the configuration say which plugins run where. */
export const CONTENT_SUBJECTS = ['manifest', 'listing', 'artifact'] as const;
export type ContentSubject = (typeof CONTENT_SUBJECTS)[number];

/** The default time one plugin may take, in milliseconds (INSPECTION_PLUGIN_TIMEOUT_MS). */
export const DEFAULT_PLUGIN_TIMEOUT_MS = 5000;
/** Archive walks at once (INSPECTION_ARCHIVE_CONCURRENCY). */
export const DEFAULT_MAX_CONCURRENT_UNPACKS = 2;
/** Labels one plugin result keeps, and the length of its reason: results go into the chain. */
export const MAX_LABELS_PER_RESULT = 32;
export const MAX_REASON_CHARS = 500;
const LABEL_PATTERN = /^[a-z0-9][a-z0-9._:-]{0,79}$/;
/** Plugin names as the decision record keeps them (domain/content/contentEvents.ts). */
const PLUGIN_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Plugins one inspector runs: their results go into one record (domain/content/contentEvents.ts, MAX_PLUGIN_RESULTS). */
export const MAX_PLUGINS = 32;

export interface InspectionInput {
  /** Text content (manifest, listing). */
  text?: string | undefined;
  /** Binary content (an artifact, or its first INSPECTION_MAX_BYTES). */
  bytes?: Uint8Array | undefined;
  /** The declared type: a MIME type for bytes, `text/plain` or `application/json` for text. */
  contentType: string;
  actor: Actor;
  subject: ContentSubject;
  /** True when `bytes` is only the beginning of a larger artifact. */
  partial?: boolean | undefined;
  /** True for /ready's probe: not a submission, so not told to `observe` (the decision metrics count submissions only). */
  probe?: boolean | undefined;
  /**
   * The members of the archives inside `bytes`, decompressed (the inspector's `unpack`), for plugins that
   * search every member too (secrets, YARA). Set by the inspector, not by callers.
   */
  members?: readonly ArchiveMember[] | undefined;
}

/**
 * One member of an archive inside the content, as the inspector's `unpack` found it. `path` names it by
 * position, never by its name in the archive (publisher data, which the decision record must not carry):
 * `2/5` is the fifth member of the archive that is the second member of the content, in the archive's own
 * order (a zip's central directory, a tar's stream; a gzip stream has one member).
 */
export interface ArchiveMember {
  path: string;
  bytes: Uint8Array;
}

/** What `unpack` found: the members, and a verdict on the walk itself (a bound exceeded, an encrypted member). */
export interface Unpacked {
  members: ArchiveMember[];
  verdict: PluginVerdict;
}

/** Decompresses the archives inside the bytes, within bounds; should honour `signal`. */
export type Unpacker = (bytes: Uint8Array, signal: AbortSignal) => Promise<Unpacked>;

/** The name the walk's result is recorded under (infra/adapters/inspection/archiveWalk.ts). */
export const UNPACK_RESULT_NAME = 'archive';

/** What one plugin says. `reason` explains a non-CLEAR tier without quoting the content. */
export interface PluginVerdict {
  tier: Tier;
  labels: string[];
  reason?: string | undefined;
}

/**
 * An error a plugin throws whose message it vouches for: no content in it
 * (a missing command, rules that do not compile). Its message is recorded;
 * any other error is recorded by its name only, because messages may quote
 * what was being parsed (JSON.parse does) and the result goes into the chain.
 */
export class PluginFailure extends Error {
  override name = 'PluginFailure';
}

export interface PluginResult extends PluginVerdict {
  plugin: string;
  /** `ok`: it answered; `timeout` and `error`: it did not, and `tier` is the configured failure tier. */
  outcome: 'ok' | 'timeout' | 'error';
  durationMs: number;
}

export interface InspectionPlugin {
  /** Stable name, recorded with each result. */
  readonly name: string;
  /** Subjects this plugin runs on. */
  readonly appliesTo: readonly ContentSubject[];
  /** Classifies the content. May throw; should honour `signal` (aborted at its timeout). */
  inspect(input: InspectionInput, signal: AbortSignal): Promise<PluginVerdict>;
}

export interface InspectionResult {
  tier: Tier;
  /** Every label of every plugin, deduplicated, sorted. */
  labels: string[];
  pluginResults: PluginResult[];
  durationMs: number;
}

export interface Inspector {
  inspect(input: InspectionInput): Promise<InspectionResult>;
  /** The plugins' names, by subject: for /ready and the documentation. */
  readonly plugins: readonly { name: string; appliesTo: readonly ContentSubject[] }[];
}

export interface InspectorOptions {
  plugins: readonly InspectionPlugin[];
  /** Per plugin, in milliseconds. */
  timeoutMs?: number;
  /** The tier of a plugin that throws or times out. */
  failureTier?: Tier;
  /** The tier added when the bytes were only the artifact's beginning (INSPECTION_PARTIAL_TIER). */
  partialTier?: Tier;
  /**
   * Walks the archives inside an artifact's bytes before the plugins run: its verdict is recorded as the
   * result `archive` (with the plugins' timeout and failure tier), its members go to the plugins.
   */
  unpack?: Unpacker;
  /**
   * At most this many archive walks at once (INSPECTION_ARCHIVE_CONCURRENCY): each may hold up to its
   * unpacked-bytes bound in memory, so the bound times this is what inspection can take. Others wait
   * for a slot; their timeout starts when they get one.
   */
  maxConcurrentUnpacks?: number;
  /** Told each inspection's tier and duration (the metrics). */
  observe?: (result: InspectionResult, subject: ContentSubject) => void;
}

export function severity(tier: Tier): number {
  return TIERS.indexOf(tier);
}

export function mostSevere(tiers: readonly Tier[]): Tier {
  return tiers.reduce<Tier>((worst, tier) => (severity(tier) > severity(worst) ? tier : worst), 'CLEAR');
}

/** Keeps a plugin's answer within what the chain records: known tier, bounded well-formed labels, bounded reason. */
function sanitized(verdict: PluginVerdict): PluginVerdict {
  assert((TIERS as readonly string[]).includes(verdict.tier), `plugin tier ${String(verdict.tier)}`);
  const labels = [...new Set(verdict.labels)]
    .filter((label) => LABEL_PATTERN.test(label))
    .slice(0, MAX_LABELS_PER_RESULT);
  const result: PluginVerdict = { tier: verdict.tier, labels };
  if (verdict.reason !== undefined && verdict.reason !== '') result.reason = verdict.reason.slice(0, MAX_REASON_CHARS);
  return result;
}

async function runPlugin(
  plugin: Pick<InspectionPlugin, 'name'> & { inspect(signal: AbortSignal): Promise<PluginVerdict> },
  timeoutMs: number,
  failureTier: Tier,
): Promise<PluginResult> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const answer = await Promise.race([plugin.inspect(controller.signal), timeout]);
    if (answer === 'timeout') {
      controller.abort();
      return {
        plugin: plugin.name,
        outcome: 'timeout',
        tier: failureTier,
        labels: ['plugin.timeout'],
        reason: `${plugin.name} did not answer within ${timeoutMs} ms`,
        durationMs: elapsed(),
      };
    }
    return { plugin: plugin.name, outcome: 'ok', ...sanitized(answer), durationMs: elapsed() };
  } catch (error) {
    controller.abort();
    const reason =
      error instanceof PluginFailure
        ? `${plugin.name} failed: ${error.message}`
        : `${plugin.name} failed (${error instanceof Error ? error.name : typeof error})`;
    return {
      plugin: plugin.name,
      outcome: 'error',
      tier: failureTier,
      labels: ['plugin.error'],
      reason: reason.slice(0, MAX_REASON_CHARS),
      durationMs: elapsed(),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The archive walk, for an artifact's bytes, bounded like a plugin: a walk that throws or overruns gives the
 * failure tier and no members (what was not unpacked cannot be said to be clean).
 */
async function unpackFirst(
  unpack: Limited<Unpacker> | undefined,
  input: InspectionInput,
  timeoutMs: number,
  failureTier: Tier,
): Promise<{ members: ArchiveMember[]; result: PluginResult } | undefined> {
  if (unpack === undefined || input.bytes === undefined || input.subject !== 'artifact') return undefined;
  const bytes = input.bytes;
  let members: ArchiveMember[] = [];
  const result = await unpack.slot(() =>
    runPlugin(
      {
        name: UNPACK_RESULT_NAME,
        async inspect(signal) {
          const unpacked = await unpack.run(bytes, signal);
          if (!signal.aborted) members = unpacked.members;
          return unpacked.verdict;
        },
      },
      timeoutMs,
      failureTier,
    ),
  );
  return { members: result.outcome === 'ok' ? members : [], result };
}

/** A function with the slots it may run in. */
interface Limited<F> {
  run: F;
  slot: <T>(task: () => Promise<T>) => Promise<T>;
}

export function createInspector(options: InspectorOptions): Inspector {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS;
  const failureTier = options.failureTier ?? 'QUARANTINE';
  const names = new Set(options.plugins.map((plugin) => plugin.name));
  assert(names.size === options.plugins.length, 'plugin names are distinct');
  assert(options.unpack === undefined || !names.has(UNPACK_RESULT_NAME), `no plugin is named ${UNPACK_RESULT_NAME}`);
  assert(options.plugins.length <= MAX_PLUGINS, `at most ${MAX_PLUGINS} plugins`);
  const unpack: Limited<Unpacker> | undefined =
    options.unpack === undefined
      ? undefined
      : { run: options.unpack, slot: pLimit(options.maxConcurrentUnpacks ?? DEFAULT_MAX_CONCURRENT_UNPACKS) };
  for (const name of names)
    assert(PLUGIN_NAME_PATTERN.test(name), `plugin name ${name} matches ${PLUGIN_NAME_PATTERN}`);
  return {
    plugins: options.plugins.map(({ name, appliesTo }) => ({ name, appliesTo })),
    async inspect(input) {
      assert(input.text !== undefined || input.bytes !== undefined, 'inspect needs text or bytes');
      const started = performance.now();
      const plugins = options.plugins.filter((plugin) => plugin.appliesTo.includes(input.subject));
      const unpacked = await unpackFirst(unpack, input, timeoutMs, failureTier);
      const seen: InspectionInput = unpacked === undefined ? input : { ...input, members: unpacked.members };
      const pluginResults = await Promise.all(
        plugins.map((plugin) =>
          runPlugin({ name: plugin.name, inspect: (signal) => plugin.inspect(seen, signal) }, timeoutMs, failureTier),
        ),
      );
      if (unpacked !== undefined) pluginResults.unshift(unpacked.result);
      if (input.partial === true)
        pluginResults.push({
          plugin: 'inspection',
          outcome: 'ok',
          tier: options.partialTier ?? 'QUARANTINE',
          labels: ['inspection.partial'],
          reason: 'only the beginning of the artifact was inspected (INSPECTION_MAX_BYTES)',
          durationMs: 0,
        });
      const result: InspectionResult = {
        tier: mostSevere(pluginResults.map((pluginResult) => pluginResult.tier)),
        labels: [...new Set(pluginResults.flatMap((pluginResult) => pluginResult.labels))].sort(),
        pluginResults,
        durationMs: Math.round(performance.now() - started),
      };
      if (input.probe !== true) options.observe?.(result, input.subject);
      return result;
    },
  };
}

/** The first result of the most severe tier its plugins gave, unless all are CLEAR: its reason is what the publisher is told. */
export function decisiveResult(result: Pick<InspectionResult, 'pluginResults'>): PluginResult | undefined {
  const worst = mostSevere(result.pluginResults.map((pluginResult) => pluginResult.tier));
  if (worst === 'CLEAR') return undefined;
  return result.pluginResults.find((pluginResult) => pluginResult.tier === worst);
}
