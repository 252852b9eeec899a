/**
 * Secrets inside submitted content: a publisher must not ship a key to every
 * buyer. Finds PEM private keys, cloud access keys (AWS access key ids and
 * secret keys named as such, Google API keys, Stripe secret keys) and bearer
 * tokens of our own format (`cb_` and 43 base64url characters:
 * infra/entrypoints/http/auth/tokens.ts), in text or in an artifact's bytes
 * (read as Latin-1, so that a key inside an archive's stored member or a
 * binary is found too), and in every member of the archives inside an
 * artifact that the inspector decompressed (`input.members`: a deflated zip
 * member, a .gz, a .tar.gz, nested). The same kinds as the repository's own
 * secret scan, scripts/ci/check-no-private-keys.sh.
 *
 * The verdict names the kind, the member (by position: `member 1/3`) and the
 * byte offset, never the secret nor the member's name.
 */
import type { InspectionInput, InspectionPlugin, PluginVerdict, Tier } from '../inspector.ts';

interface SecretPattern {
  label: string;
  kind: string;
  pattern: RegExp;
  /** Literal text every match contains: where none is found, the pattern is not run (a 10 MiB artifact is searched in milliseconds). Empty: always run. */
  markers: readonly string[];
  /** Or a cheap expression every match contains a match of (for a marker in any case): where it finds none, the pattern is not run. */
  gate?: RegExp;
}

// Written so that this file does not itself look like a secret to the scan.
const DASHES = '-{5}';
export const SECRET_PATTERNS: readonly SecretPattern[] = [
  {
    label: 'secret.pem-private-key',
    kind: 'a PEM private key',
    pattern: new RegExp(`${DASHES}BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?${DASHES}`),
    markers: ['PRIVATE KEY'],
  },
  {
    label: 'secret.aws-access-key-id',
    kind: 'an AWS access key id',
    pattern: /(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/,
    markers: ['AKIA', 'ASIA'],
  },
  {
    label: 'secret.aws-secret-access-key',
    kind: 'an AWS secret access key',
    pattern: /(secret_?access_?key|aws.{0,20}secret).{0,5}[^A-Za-z0-9/+=][A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/i,
    // Both alternatives contain "secret", in any case.
    markers: [],
    gate: /secret/i,
  },
  {
    label: 'secret.google-api-key',
    kind: 'a Google API key',
    pattern: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/,
    markers: ['AIza'],
  },
  {
    label: 'secret.stripe-secret-key',
    kind: 'a Stripe secret key',
    pattern: /(?<![A-Za-z0-9_])(sk|rk)_live_[0-9A-Za-z]{24,}/,
    markers: ['_live_'],
  },
  {
    label: 'secret.chainbook-token',
    kind: 'a Chainbook bearer token',
    pattern: /(?<![A-Za-z0-9_-])cb_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/,
    markers: ['cb_'],
  },
];

/** Findings listed in a verdict's reason (the labels list every kind). */
const MAX_FINDINGS_IN_REASON = 5;

/** The content as Latin-1 bytes (text as UTF-8: every marker is ASCII, so both find the same). */
function bytesOf(input: InspectionInput): Buffer {
  if (input.text !== undefined) return Buffer.from(input.text, 'utf8');
  return asBuffer(input.bytes!);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface Finding {
  secret: SecretPattern;
  /** `member 1/3`, or undefined for the content itself. */
  member: string | undefined;
  offset: number;
}

/** The secrets in one run of bytes; `text`: the same as given (offsets are of its characters). */
function findingsIn(bytes: Buffer, member: string | undefined, text?: string): Finding[] {
  let searched = text;
  const textOf = () => (searched ??= bytes.toString('latin1'));
  const worth = candidates(bytes, textOf);
  if (worth.length === 0) return [];
  return worth.flatMap((secret) => {
    const match = secret.pattern.exec(textOf());
    return match === null ? [] : [{ secret, member, offset: match.index }];
  });
}

function describe(finding: Finding): string {
  const where = finding.member === undefined ? '' : ` in member ${finding.member}`;
  return `${finding.secret.kind}${where} at offset ${finding.offset}`;
}

/** The patterns worth running: those with a marker (or a match of their gate) in the content. */
function candidates(bytes: Buffer, text: () => string): SecretPattern[] {
  return SECRET_PATTERNS.filter((secret) => {
    if (secret.gate !== undefined) return secret.gate.test(text());
    return secret.markers.length === 0 || secret.markers.some((marker) => bytes.includes(marker, 0, 'latin1'));
  });
}

/** `tier`: what a found secret classifies as (INSPECTION_SECRETS_TIER, default BLOCK). */
export function secretsPlugin(tier: Tier = 'BLOCK'): InspectionPlugin {
  return {
    name: 'secrets',
    appliesTo: ['manifest', 'listing', 'artifact'],
    async inspect(input, signal): Promise<PluginVerdict> {
      // Offsets are of the text as given (characters), or of the bytes (Latin-1: one character a byte).
      const found = findingsIn(bytesOf(input), undefined, input.text);
      for (const member of input.members ?? []) {
        if (signal.aborted) break;
        found.push(...findingsIn(asBuffer(member.bytes), member.path));
      }
      if (found.length === 0) return { tier: 'CLEAR', labels: [] };
      const listed = found.slice(0, MAX_FINDINGS_IN_REASON).map(describe).join(', ');
      const more = found.length > MAX_FINDINGS_IN_REASON ? ` and ${found.length - MAX_FINDINGS_IN_REASON} more` : '';
      return { tier, labels: found.map((finding) => finding.secret.label), reason: `contains ${listed}${more}` };
    },
  };
}
