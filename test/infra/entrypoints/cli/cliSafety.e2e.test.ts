/**
 * The CLI refuses what cannot be undone and says what it did (issue 13,
 * item 11): demo only on an empty chain (or --yes), never in production;
 * replay --compare is a pure check; exit codes are those of the README; a
 * password in the database URL's query is never printed.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { redactUrl } from '../../../../infra/adapters/sql/sql.ts';
import { runCli } from '../../../helpers/cli.ts';
import { openTestDatabase, type TestDatabase } from '../../../helpers/databases.ts';
import { tempDir } from '../../../helpers/runtime.ts';

async function setup(t: ExecutionContext): Promise<{ test: TestDatabase; env: Record<string, string>; dir: string }> {
  const database = await openTestDatabase('postgres');
  const dir = tempDir('cli-safety');
  t.teardown(async () => {
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { test: database, dir, env: { DATABASE_URL: database.location, CHAINBOOK_DATA_DIR: join(dir, 'data') } };
}

async function recordCount(database: TestDatabase): Promise<number> {
  const { rows } = await database.db.query<{ count: string }>('SELECT count(*) AS count FROM events');
  return Number(rows[0]!.count);
}

test('demo runs on an empty chain, refuses a non-empty one unless --yes, and always refuses in production', async (t) => {
  const s = await setup(t);
  const first = await runCli(['demo', '--orders', '1'], { env: s.env });
  t.is(first.code, 0, first.stderr);
  const records = await recordCount(s.test);
  t.true(records > 0);
  const again = await runCli(['demo', '--orders', '1'], { env: s.env });
  t.is(again.code, 1, again.stdout + again.stderr);
  t.regex(again.stderr, /already holds \d+ records[\s\S]*--yes/);
  t.is(await recordCount(s.test), records, 'nothing appended');
  const production = await runCli(['demo', '--orders', '1', '--yes'], {
    env: {
      ...s.env,
      NODE_ENV: 'production',
      // Production's delivery settings (test/infra/wiring/dataKeysConfig.unit.test.ts); not what this test is about.
      DELIVERY_S3_BUCKET: 'deliveries',
      DELIVERY_WRAPPING_KEY: Buffer.alloc(32, 7).toString('base64'),
      SIGNING_BACKEND: 'kms',
      AUDIT_SIGNING_KMS_KEY_ID: 'alias/x',
      AUDIT_SIGNING_ALG: 'ed25519',
      SIGNING_KID: 'k',
    },
  });
  t.is(production.code, 1, production.stdout + production.stderr);
  t.regex(production.stderr, /refused with NODE_ENV=production/);
  t.is(await recordCount(s.test), records, 'nothing appended');
  const yes = await runCli(['demo', '--orders', '1', '--yes'], { env: s.env });
  t.is(yes.code, 0, yes.stderr);
  t.true((await recordCount(s.test)) > records);

  // replay --compare is a pure check: a projection that drifted is reported, and left as it was.
  await s.test.db.query(
    'UPDATE catalog_listings SET price_minor = price_minor + 1 WHERE listing_id = (SELECT min(listing_id) FROM catalog_listings)',
  );
  const drifted = async () =>
    (await s.test.db.query<{ price: number }>('SELECT sum(price_minor) AS price FROM catalog_listings')).rows[0]!.price;
  const before = await drifted();
  const checked = await runCli(['replay', '--compare', '--threads', '0'], { env: s.env });
  t.is(checked.code, 1, checked.stdout + checked.stderr);
  t.regex(checked.stdout, /DIFFERS from live/);
  t.is(await drifted(), before, '--compare changed nothing');
  const rebuilt = await runCli(['replay', '--compare', '--rebuild', '--threads', '0'], { env: s.env });
  t.is(rebuilt.code, 1, 'the difference is still reported');
  t.not(await drifted(), before, '--rebuild kept the rebuilt projections');
  const clean = await runCli(['replay', '--compare', '--threads', '0'], { env: s.env });
  t.is(clean.code, 0, clean.stdout + clean.stderr);
});

test('an empty archive and a refused configuration exit 2 (could not run), as the README says', async (t) => {
  const s = await setup(t);
  // The first command on a data folder makes the development signer and its registry.
  t.is((await runCli(['append'], { env: s.env })).code, 0);
  const archive = join(s.dir, 'archive');
  mkdirSync(archive);
  const empty = await runCli(['audit-verify', '--archive', archive], { env: s.env });
  t.is(empty.code, 2, empty.stdout + empty.stderr);
  t.regex(empty.stderr, /ARCHIVE_EMPTY/);
  const serve = await runCli(['serve'], { env: { ...s.env, PORT: 'eighty' } });
  t.is(serve.code, 2, serve.stdout + serve.stderr);
});

test('a password in the database URL, as user info or as a query parameter, is never printed', (t) => {
  for (const url of [
    'postgres://app:hunter2@db.example/chainbook',
    'postgres://app@db.example/chainbook?password=hunter2&sslmode=require',
    'postgresql://db.example/chainbook?user=app&PASSWORD=hunter2',
    'postgres://db.example/chainbook?sslpassword=hunter2',
  ]) {
    const shown = redactUrl(url);
    t.false(shown.includes('hunter2'), shown);
    t.regex(shown, /db\.example/);
  }
  t.regex(redactUrl('postgres://db.example/chainbook?sslmode=require'), /sslmode=require/);
});
