/**
 * YARA over the content, through Debian's `yara` command (package `yara`):
 * the bytes (or the text, as UTF-8) are written to a private temporary file
 * and scanned with the repository's rules (infra/adapters/inspection/rules/,
 * the EICAR test signature and the secret patterns) or those named by
 * INSPECTION_YARA_RULES. A rule's tags say its tier: `block`, `quarantine`,
 * else `INSPECTION_YARA_DEFAULT_TIER` (BLOCK). The verdict names the rules that
 * matched (`yara.<rule>`), never what they matched: yara runs without `-s`.
 *
 * The members of the archives inside an artifact that the inspector
 * decompressed (`input.members`) are written beside the content, one file
 * each, and the folder is scanned in one run of yara; a match in a member is
 * named by the member's position (`member 1/3`), never by its name.
 *
 * The command is killed when the inspection's timeout aborts it; yara's own
 * scan timeout (`-a`) is set to the same bound. A file yara could not scan
 * (its timeout, an unreadable file: reported on standard error while yara
 * still exits 0 over a folder) makes the plugin fail (the failure tier),
 * unless a match already blocks.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InspectionInput, InspectionPlugin, PluginVerdict, Tier } from '../../../commands/content/inspector.ts';
import { mostSevere, PluginFailure } from '../../../commands/content/inspector.ts';

/** The repository's rules. */
export const DEFAULT_YARA_RULES = fileURLToPath(new URL('./rules/chainbook.yar', import.meta.url));
/** Bytes of yara's output read: rule names and tags, a line per match. */
const MAX_OUTPUT_BYTES = 256 * 1024;
/** More output allowed for each member scanned beside the content (a line is under 200 bytes). */
const OUTPUT_BYTES_PER_MEMBER = 4 * 1024;
const MATCH_LINE = /^([A-Za-z_][A-Za-z0-9_]{0,127}) \[([^\]]*)\] (.*)$/;
/** The content's file in the scanned folder; members are `member-<index>`, index into `input.members`. */
const CONTENT_FILE = 'content';
const MEMBER_FILE = /(?:^|\/)member-(\d{1,9})$/;
/** Members named in a verdict's reason (the labels name every rule). */
const MAX_MEMBERS_IN_REASON = 5;

export interface YaraOptions {
  /** The yara executable (YARA_PATH, default `yara` on the PATH). */
  command?: string;
  rulesPath?: string;
  defaultTier?: Tier;
  timeoutSeconds?: number;
}

/**
 * yara's output, and what it said on standard error: scanning a folder, yara reports a file it could not
 * scan (`error scanning …: scanning timed out`) there and still exits 0 (`-w` silences its warnings, so
 * anything there is an error).
 */
function run(
  command: string,
  args: string[],
  signal: AbortSignal,
  maxOutputBytes: number,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { signal, maxBuffer: maxOutputBytes, encoding: 'utf8' }, (error, stdout, stderr) => {
      // yara's own words (a missing command, rules that do not compile, a scan timeout): no content, yara runs without -s.
      if (error) reject(new PluginFailure(`yara: ${stderr.trim().slice(0, 200) || error.message}`));
      else resolve({ stdout, stderr: stderr.trim() });
    });
  });
}

function tierOf(tags: string[], defaultTier: Tier): Tier {
  if (tags.includes('block')) return 'BLOCK';
  if (tags.includes('quarantine')) return 'QUARANTINE';
  if (tags.includes('clear')) return 'CLEAR';
  return defaultTier;
}

/** Each match line: the rule, its tier, and the scanned file it names (a path of ours, not of the content). */
export function parseYaraOutput(stdout: string, defaultTier: Tier): { rule: string; tier: Tier; file: string }[] {
  return stdout
    .split('\n')
    .map((line) => MATCH_LINE.exec(line))
    .filter((match) => match !== null)
    .map((match) => {
      const tags = match[2]!.split(',').map((tag) => tag.trim().toLowerCase());
      return { rule: match[1]!, tier: tierOf(tags, defaultTier), file: match[3]! };
    });
}

/** The member a match's file is, by position, or undefined for the content itself. */
function memberOf(file: string, input: InspectionInput): string | undefined {
  const index = MEMBER_FILE.exec(file)?.[1];
  return index === undefined ? undefined : input.members?.[Number(index)]?.path;
}

/** Writes the content and each member into the folder, then the folder is what yara scans. */
async function writeTargets(folder: string, input: InspectionInput): Promise<string> {
  const file = join(folder, CONTENT_FILE);
  await writeFile(file, input.bytes ?? Buffer.from(input.text ?? '', 'utf8'), { mode: 0o600 });
  const members = input.members ?? [];
  if (members.length === 0) return file;
  for (const [index, member] of members.entries())
    await writeFile(join(folder, `member-${index}`), member.bytes, { mode: 0o600 });
  return folder;
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
        const target = await writeTargets(folder, input);
        // A match line per rule and file: the bound grows with the members (a match in each is no failure).
        const maxOutput = MAX_OUTPUT_BYTES + (input.members?.length ?? 0) * OUTPUT_BYTES_PER_MEMBER;
        const args = ['-w', '-g', '-a', timeoutSeconds, rulesPath, target];
        const { stdout, stderr } = await run(command, args, signal, maxOutput);
        const matches = parseYaraOutput(stdout, defaultTier);
        // A file not scanned (timed out, unreadable) is never a pass: a failure, unless a match already blocks.
        if (stderr !== '' && !matches.some((match) => match.tier === 'BLOCK'))
          throw new PluginFailure(`yara: ${stderr.split('\n')[0]!.slice(0, 200)}`);
        if (matches.length === 0) return { tier: 'CLEAR', labels: [] };
        const rules = [...new Set(matches.map((match) => match.rule))];
        const members = [...new Set(matches.map((match) => memberOf(match.file, input)))].filter(
          (member) => member !== undefined,
        );
        const listed = members.slice(0, MAX_MEMBERS_IN_REASON).join(', ');
        const more =
          members.length > MAX_MEMBERS_IN_REASON ? ` and ${members.length - MAX_MEMBERS_IN_REASON} more` : '';
        const where = members.length === 0 ? '' : ` in member${members.length > 1 ? 's' : ''} ${listed}${more}`;
        return {
          tier: mostSevere(matches.map((match) => match.tier)),
          labels: rules.map((rule) => `yara.${rule.toLowerCase()}`),
          reason: `matches the YARA rule${rules.length > 1 ? 's' : ''} ${rules.join(', ')}${where}`,
        };
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    },
  };
}
