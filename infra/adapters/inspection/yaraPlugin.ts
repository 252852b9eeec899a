/**
 * YARA over the content, through Debian's `yara` command (package `yara`):
 * the bytes (or the text, as UTF-8) are written to a private temporary file
 * and scanned with the repository's rules (infra/adapters/inspection/rules/,
 * the EICAR test signature and the secret patterns) or those named by
 * INSPECTION_YARA_RULES. A rule's tags say its tier: `block`, `quarantine`,
 * else `INSPECTION_YARA_DEFAULT_TIER` (BLOCK). The verdict names the rules that
 * matched (`yara.<rule>`), never what they matched: yara runs without `-s`.
 *
 * The command is killed when the inspection's timeout aborts it; yara's own
 * scan timeout (`-a`) is set to the same bound.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InspectionPlugin, PluginVerdict, Tier } from '../../../commands/content/inspector.ts';
import { mostSevere, PluginFailure } from '../../../commands/content/inspector.ts';

/** The repository's rules. */
export const DEFAULT_YARA_RULES = fileURLToPath(new URL('./rules/chainbook.yar', import.meta.url));
/** Bytes of yara's output read: rule names and tags, a line per match. */
const MAX_OUTPUT_BYTES = 256 * 1024;
const MATCH_LINE = /^([A-Za-z_][A-Za-z0-9_]{0,127}) \[([^\]]*)\] /;

export interface YaraOptions {
  /** The yara executable (YARA_PATH, default `yara` on the PATH). */
  command?: string;
  rulesPath?: string;
  defaultTier?: Tier;
  timeoutSeconds?: number;
}

function run(command: string, args: string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { signal, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' }, (error, stdout, stderr) => {
      // yara's own words (a missing command, rules that do not compile, a scan timeout): no content, yara runs without -s.
      if (error) reject(new PluginFailure(`yara: ${stderr.trim().slice(0, 200) || error.message}`));
      else resolve(stdout);
    });
  });
}

function tierOf(tags: string[], defaultTier: Tier): Tier {
  if (tags.includes('block')) return 'BLOCK';
  if (tags.includes('quarantine')) return 'QUARANTINE';
  if (tags.includes('clear')) return 'CLEAR';
  return defaultTier;
}

export function parseYaraOutput(stdout: string, defaultTier: Tier): { rule: string; tier: Tier }[] {
  return stdout
    .split('\n')
    .map((line) => MATCH_LINE.exec(line))
    .filter((match) => match !== null)
    .map((match) => {
      const tags = match[2]!.split(',').map((tag) => tag.trim().toLowerCase());
      return { rule: match[1]!, tier: tierOf(tags, defaultTier) };
    });
}

/** Runs yara on an empty file: the command is there and the rules compile (/ready). */
export async function checkYara(options: YaraOptions = {}): Promise<void> {
  const plugin = yaraPlugin(options);
  await plugin.inspect(
    { text: '', contentType: 'text/plain', subject: 'manifest', actor: { id: 'ready', role: 'Service' } },
    AbortSignal.timeout(5000),
  );
}

export function yaraPlugin(options: YaraOptions = {}): InspectionPlugin {
  const command = options.command ?? 'yara';
  const rulesPath = options.rulesPath ?? DEFAULT_YARA_RULES;
  const defaultTier = options.defaultTier ?? 'BLOCK';
  const timeoutSeconds = String(options.timeoutSeconds ?? 5);
  return {
    name: 'yara',
    appliesTo: ['manifest', 'listing', 'artifact'],
    async inspect(input, signal): Promise<PluginVerdict> {
      const folder = await mkdtemp(join(tmpdir(), 'chainbook-yara-'));
      try {
        const file = join(folder, 'content');
        await writeFile(file, input.bytes ?? Buffer.from(input.text ?? '', 'utf8'), { mode: 0o600 });
        const stdout = await run(command, ['-w', '-g', '-a', timeoutSeconds, rulesPath, file], signal);
        const matches = parseYaraOutput(stdout, defaultTier);
        if (matches.length === 0) return { tier: 'CLEAR', labels: [] };
        const rules = [...new Set(matches.map((match) => match.rule))];
        return {
          tier: mostSevere(matches.map((match) => match.tier)),
          labels: rules.map((rule) => `yara.${rule.toLowerCase()}`),
          reason: `matches the YARA rule${rules.length > 1 ? 's' : ''} ${rules.join(', ')}`,
        };
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    },
  };
}
