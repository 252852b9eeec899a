/**
 * Text rules from the configuration: domains and words that block a
 * submission (CONTENT_BLOCKED_DOMAINS, CONTENT_BLOCKED_WORDS) and words that
 * hold it for a moderator (CONTENT_QUARANTINE_WORDS). Matching ignores case;
 * a domain matches itself and its subdomains, a word matches whole words. The
 * verdict names the rule that matched by its list and position
 * ("blocked word rule #2 (CONTENT_BLOCKED_WORDS)"), never the word or domain:
 * the reason is recorded in the chain, and what matched is the content itself.
 */
import type { InspectionPlugin, PluginVerdict, Tier } from '../inspector.ts';

/** Entries per list: each becomes part of one regular expression. */
export const MAX_TEXT_RULES = 1000;

export interface TextRules {
  blockedDomains: readonly string[];
  blockedWords: readonly string[];
  quarantineWords: readonly string[];
}

/** A list's entries as the patterns match them: lower case, a domain without leading or trailing dots. */
function normalizedDomain(domain: string): string {
  return domain.toLowerCase().replace(/^\.+|\.+$/g, '');
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function domainPattern(domains: readonly string[]): RegExp | undefined {
  if (domains.length === 0) return undefined;
  const alternatives = domains.map((domain) => escaped(normalizedDomain(domain)));
  return new RegExp(`(?<![a-z0-9-])(?:[a-z0-9-]+\\.)*(${alternatives.join('|')})(?![a-z0-9-]|\\.[a-z0-9])`, 'giu');
}

function wordPattern(words: readonly string[]): RegExp | undefined {
  if (words.length === 0) return undefined;
  return new RegExp(`(?<![\\p{L}\\p{N}_])(${words.map(escaped).join('|')})(?![\\p{L}\\p{N}_])`, 'giu');
}

function matches(pattern: RegExp | undefined, text: string): string[] {
  if (pattern === undefined) return [];
  return [...new Set([...text.matchAll(pattern)].map((match) => match[1]!.toLowerCase()))];
}

export function textRulesPlugin(rules: TextRules): InspectionPlugin {
  for (const list of [rules.blockedDomains, rules.blockedWords, rules.quarantineWords])
    if (list.length > MAX_TEXT_RULES)
      throw new Error(`assertion failed: at most ${MAX_TEXT_RULES} text rules per list`);
  const domains = domainPattern(rules.blockedDomains);
  const blocked = wordPattern(rules.blockedWords);
  const held = wordPattern(rules.quarantineWords);
  const lists = {
    blockedDomains: rules.blockedDomains.map(normalizedDomain),
    blockedWords: rules.blockedWords.map((word) => word.toLowerCase()),
    quarantineWords: rules.quarantineWords.map((word) => word.toLowerCase()),
  };
  return {
    name: 'text-rules',
    appliesTo: ['manifest', 'listing'],
    async inspect(input): Promise<PluginVerdict> {
      const text = input.text ?? '';
      const blockedDomains = matches(domains, text);
      const blockedWords = matches(blocked, text);
      const heldWords = matches(held, text);
      const labels = [
        ...blockedDomains.map(() => 'text.blocked-domain'),
        ...blockedWords.map(() => 'text.blocked-word'),
        ...heldWords.map(() => 'text.quarantine-word'),
      ];
      // The rule's position in its list (1-based), never the text that matched it.
      const rule = (kind: string, setting: string, list: readonly string[], found: string[]) => {
        const positions = found.map((entry) => list.findIndex((listed) => listed === entry) + 1);
        return [...new Set(positions)]
          .sort((a, b) => a - b)
          .map((position) => (position > 0 ? `${kind} rule #${position} (${setting})` : `a ${kind} rule (${setting})`));
      };
      const reasons = [
        ...rule('blocked domain', 'CONTENT_BLOCKED_DOMAINS', lists.blockedDomains, blockedDomains),
        ...rule('blocked word', 'CONTENT_BLOCKED_WORDS', lists.blockedWords, blockedWords),
        ...rule('quarantine word', 'CONTENT_QUARANTINE_WORDS', lists.quarantineWords, heldWords),
      ];
      const tier: Tier =
        blockedDomains.length + blockedWords.length > 0 ? 'BLOCK' : heldWords.length > 0 ? 'QUARANTINE' : 'CLEAR';
      if (tier === 'CLEAR') return { tier, labels: [] };
      return { tier, labels: [...new Set(labels)], reason: `matches the ${reasons.join(', ')}` };
    },
  };
}
