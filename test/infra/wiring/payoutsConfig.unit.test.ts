/**
 * The payout provider in the configuration (PAYOUT_PROVIDER, and the Stripe
 * variables with `stripe`) and payoutProviderOf choosing it (infra/wiring/app.ts).
 */
import { Writable } from 'node:stream';
import test from 'ava';
import { createLogger } from '../../../infra/entrypoints/http/logger.ts';
import { CodedError } from '../../../domain/errors.ts';
import { payoutProviderOf } from '../../../infra/wiring/app.ts';
import { loadConfig, MAX_STRIPE_CONNECTED_ACCOUNTS } from '../../../infra/wiring/config.ts';
import { STAND_IN_SECRET_KEY, STAND_IN_WEBHOOK_SECRET } from '../../helpers/stripeStandIn.ts';

const STRIPE = {
  PAYOUT_PROVIDER: 'stripe',
  STRIPE_SECRET_KEY: STAND_IN_SECRET_KEY,
  STRIPE_WEBHOOK_SECRET: STAND_IN_WEBHOOK_SECRET,
  STRIPE_CONNECTED_ACCOUNTS: 'publisher-1:acct_1Publisher, artist-7:acct_2Artist',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (!(error instanceof CodedError)) throw error;
    return (error.details['problems'] as string[]) ?? [];
  }
}

test('sandbox is the default, none in production; neither carries Stripe settings', (t) => {
  t.like(loadConfig({}).payouts, { provider: 'sandbox', stripe: undefined });
  t.is(payoutProviderOf(loadConfig({})).name, 'sandbox');
  const production = loadConfig({
    NODE_ENV: 'production',
    SIGNING_BACKEND: 'kms',
    AUDIT_SIGNING_KMS_KEY_ID: 'k',
    AUDIT_SIGNING_ALG: 'ed25519',
    SIGNING_KID: 'kms-1',
    DELIVERY_S3_BUCKET: 'deliveries',
    DELIVERY_WRAPPING_KEY: Buffer.alloc(32).toString('base64'),
  });
  t.is(production.payouts.provider, 'none');
  t.false(payoutProviderOf(production).accepting);
});

test('PAYOUT_PROVIDER=stripe reads its accounts and the API base, and picks the Stripe provider', (t) => {
  const config = loadConfig(STRIPE);
  t.is(config.payouts.provider, 'stripe');
  t.deepEqual(
    [...config.payouts.stripe!.connectedAccounts],
    [
      ['publisher-1', 'acct_1Publisher'],
      ['artist-7', 'acct_2Artist'],
    ],
  );
  t.is(config.payouts.stripe!.apiBase, 'https://api.stripe.com');
  t.is(
    loadConfig({ ...STRIPE, STRIPE_API_BASE: 'http://127.0.0.1:4010/' }).payouts.stripe!.apiBase,
    'http://127.0.0.1:4010',
  );
  const provider = payoutProviderOf(config);
  t.is(provider.name, 'stripe');
  t.true(provider.accepting);
});

test('PAYOUT_PROVIDER=stripe without its variables names each one missing', (t) => {
  t.deepEqual(problems({ PAYOUT_PROVIDER: 'stripe' }), [
    'STRIPE_SECRET_KEY: required when PAYOUT_PROVIDER=stripe',
    'STRIPE_WEBHOOK_SECRET: required when PAYOUT_PROVIDER=stripe',
    'STRIPE_CONNECTED_ACCOUNTS: required when PAYOUT_PROVIDER=stripe',
  ]);
  t.deepEqual(problems({ ...STRIPE, STRIPE_WEBHOOK_SECRET: ' ' }), [
    'STRIPE_WEBHOOK_SECRET: required when PAYOUT_PROVIDER=stripe',
  ]);
});

test('malformed Stripe variables are refused, naming the variable and never repeating its value', (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ STRIPE_SECRET_KEY: 'pk_test_publishable0000' }, /^STRIPE_SECRET_KEY: must be a Stripe secret or restricted key/],
    [{ STRIPE_WEBHOOK_SECRET: 'whsec_short' }, /^STRIPE_WEBHOOK_SECRET: must be at least 16 characters/],
    [{ STRIPE_CONNECTED_ACCOUNTS: 'publisher-1=acct_1' }, /^STRIPE_CONNECTED_ACCOUNTS: must be party:acct_… pairs/],
    [
      { STRIPE_CONNECTED_ACCOUNTS: 'publisher-1:acct_1,publisher-1:acct_2' },
      /^STRIPE_CONNECTED_ACCOUNTS: .*each party once/,
    ],
    [{ STRIPE_CONNECTED_ACCOUNTS: 'publisher-1:ba_1' }, /^STRIPE_CONNECTED_ACCOUNTS:/],
    [
      {
        STRIPE_CONNECTED_ACCOUNTS: Array.from(
          { length: MAX_STRIPE_CONNECTED_ACCOUNTS + 1 },
          (_, index) => `p${index}:acct_${index}`,
        ).join(','),
      },
      /^STRIPE_CONNECTED_ACCOUNTS:/,
    ],
    [{ STRIPE_API_BASE: 'http://api.example.com' }, /^STRIPE_API_BASE: must be an https:\/\/ origin/],
    [{ STRIPE_API_BASE: 'https://api.stripe.com/v1' }, /^STRIPE_API_BASE:/],
  ];
  for (const [env, expected] of cases) {
    const found = problems({ ...STRIPE, ...env });
    t.is(found.length, 1, JSON.stringify(env).slice(0, 80));
    t.regex(found[0]!, expected);
  }
  const leaked = problems({ ...STRIPE, STRIPE_SECRET_KEY: 'sk_live secret with spaces' });
  t.false(leaked.join('\n').includes('secret with spaces'));
});

test('the Stripe secrets are redacted from a log line that would hold the settings', (t) => {
  const lines: string[] = [];
  const logger = createLogger(
    'info',
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString('utf8'));
        callback();
      },
    }),
  );
  logger.info({ stripe: loadConfig(STRIPE).payouts.stripe, headers: { 'stripe-signature': 't=1,v1=ab' } }, 'settings');
  const text = lines.join('');
  t.regex(text, /acct_1Publisher|apiBase/);
  t.false(text.includes(STAND_IN_SECRET_KEY));
  t.false(text.includes(STAND_IN_WEBHOOK_SECRET));
  t.false(text.includes('v1=ab'));
});
