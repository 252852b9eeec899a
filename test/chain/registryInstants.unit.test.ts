import test from 'ava';
import { parseRegistry, RegistryError } from '../../chain/registry.ts';
import { generateKeys, registryEntry } from '../helpers/keys.ts';

const ed = generateKeys('ed25519');

function problemsOf(deployedAt: string, retiredAt: string | null = null): readonly string[] {
  try {
    parseRegistry({ signers: [registryEntry('k1', 'ed25519', ed.publicKey, deployedAt, retiredAt)] });
    return [];
  } catch (error) {
    if (error instanceof RegistryError) return error.problems;
    throw error;
  }
}

test('rejects validity-window instants that are not on the calendar, which Date.parse would roll over', (t) => {
  t.regex(problemsOf('2026-02-30T00:00:00Z')[0] ?? '', /^signers\[0\]\.deployedAt: must be an RFC 3339 timestamp/);
  t.regex(
    problemsOf('2026-01-01T00:00:00Z', '2026-11-23T24:00:00Z')[0] ?? '',
    /^signers\[0\]\.retiredAt: must be an RFC 3339 timestamp/,
  );
  t.regex(problemsOf('2026-04-31T00:00:00.000+01:00')[0] ?? '', /deployedAt/);
});

test('accepts real instants: a leap day, the last millisecond of a day, an offset', (t) => {
  t.deepEqual(problemsOf('2028-02-29T23:59:59.999Z'), []);
  t.deepEqual(problemsOf('2025-02-24T00:00:00+01:00', '2026-12-31T23:59:59Z'), []);
});
