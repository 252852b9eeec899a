/**
 * The inspector and the quarantine as the configuration makes them
 * (infra/wiring/contentConfig.ts): the built-in plugins INSPECTION_PLUGINS
 * names, each inspection counted in the metrics, and the encrypted quarantine
 * over an S3 bucket or a folder when QUARANTINE_ENABLED=true.
 */
import {
  createInspector,
  type ContentSubject,
  type InspectionPlugin,
  type Tier,
} from '../../commands/content/inspector.ts';
import { secretsPlugin } from '../../commands/content/plugins/secretsPlugin.ts';
import { textRulesPlugin } from '../../commands/content/plugins/textRulesPlugin.ts';
import type { ContentDeps } from '../../commands/content/screenContent.ts';
import { assertNever } from '../../domain/errors.ts';
import { contentTypePlugin } from '../adapters/inspection/contentTypePlugin.ts';
import { yaraPlugin } from '../adapters/inspection/yaraPlugin.ts';
import { archiveUnpacker } from '../adapters/inspection/archiveWalk.ts';
import {
  contentDecisionsTotal,
  contentInspectionSeconds,
  contentPluginFailuresTotal,
  quarantineExpiredTotal,
  quarantineExpiryBacklog,
  quarantineHeldBytes,
  quarantineHeldRecords,
} from '../adapters/metrics.ts';
import type { CommandDeps } from '../../commands/command.ts';
import { contextFor } from '../../commands/context.ts';
import { expireQuarantine } from '../../commands/content/moderateContent.ts';
import { QuarantineVault } from '../adapters/quarantine/quarantineVault.ts';
import type { SqlDatabase } from '../adapters/sql/sql.ts';
import { openBlobStore } from './blobStores.ts';
import type { Config } from './config.ts';
import type { ContentConfig, InspectionPluginName } from './contentConfig.ts';

function pluginOf(name: InspectionPluginName, config: ContentConfig): InspectionPlugin {
  switch (name) {
    case 'content-type':
      return contentTypePlugin(config.contentTypeMismatchTier, config.executableTier);
    case 'secrets':
      return secretsPlugin(config.secretsTier);
    case 'yara':
      return yaraPlugin({
        command: config.yara.command,
        ...(config.yara.rulesPath ? { rulesPath: config.yara.rulesPath } : {}),
        defaultTier: config.yara.defaultTier,
        timeoutSeconds: Math.max(1, Math.ceil(config.pluginTimeoutMs / 1000)),
      });
    case 'text-rules':
      return textRulesPlugin(config.textRules);
    default:
      return assertNever(name, 'inspection plugin');
  }
}

export interface ContentServices {
  deps: ContentDeps;
  /** undefined when QUARANTINE_ENABLED=false. */
  vault: QuarantineVault | undefined;
  close(): void;
}

/** `plugins`: tests and the benchmark replace the configured list. */
export function openContent(config: Config, db: SqlDatabase, plugins?: readonly InspectionPlugin[]): ContentServices {
  const content = config.content;
  const inspector = createInspector({
    plugins: plugins ?? [...new Set(content.plugins)].map((name) => pluginOf(name, content)),
    timeoutMs: content.pluginTimeoutMs,
    failureTier: content.failureTier,
    partialTier: content.partialTier,
    unpack: archiveUnpacker(content.archive),
    maxConcurrentUnpacks: content.archiveConcurrency,
    observe(result, subject) {
      contentInspectionSeconds.observe({ subject, tier: result.tier }, result.durationMs / 1000);
      for (const pluginResult of result.pluginResults)
        if (pluginResult.outcome !== 'ok')
          contentPluginFailuresTotal.inc({ plugin: pluginResult.plugin, outcome: pluginResult.outcome });
    },
  });
  // The decision applied (QUARANTINE is BLOCK with quarantine off), not the inspector's tier.
  const observeDecision = (tier: Tier, subject: ContentSubject) => contentDecisionsTotal.inc({ tier, subject });
  const { quarantine } = content;
  if (!quarantine.enabled || quarantine.masterKey === undefined)
    return {
      deps: { inspector, quarantine: undefined, maxInspectedBytes: content.maxInspectedBytes, observeDecision },
      vault: undefined,
      close: () => undefined,
    };
  const blobs = openBlobStore(quarantine.s3Bucket, quarantine.folder, config.archive.s3);
  const vault = new QuarantineVault(
    db,
    blobs.store,
    quarantine.masterKey,
    quarantine.expiryHours,
    quarantine.previousMasterKey,
  );
  return {
    deps: { inspector, quarantine: vault, maxInspectedBytes: content.maxInspectedBytes, observeDecision },
    vault,
    close: () => blobs.close(),
  };
}

/** The actor the expiry job records `content.expired` as. */
export const QUARANTINE_EXPIRY_ACTOR = { id: 'quarantine-expiry', role: 'Service' } as const;
/** How often `serve` runs the expiry job (and refreshes the quarantine gauges). */
export const QUARANTINE_EXPIRY_INTERVAL_MS = 60_000;

/** The quarantine's gauges: bytes and records held, and the expiry backlog. */
export async function observeQuarantine(vault: QuarantineVault, nowMs: number): Promise<void> {
  const stats = await vault.stats(nowMs);
  quarantineHeldBytes.set(stats.heldBytes);
  quarantineHeldRecords.set(stats.heldRecords);
  quarantineExpiryBacklog.set(stats.expiredBacklog);
}

/** One pass of the expiry job, counted; then the gauges. */
export async function runQuarantineExpiry(deps: CommandDeps, vault: QuarantineVault, nowMs: number): Promise<string[]> {
  const { expired } = await expireQuarantine(
    deps,
    {},
    contextFor(QUARANTINE_EXPIRY_ACTOR, { now: new Date(nowMs).toISOString() }),
  );
  quarantineExpiredTotal.inc(expired.length);
  await observeQuarantine(vault, nowMs);
  return expired;
}
