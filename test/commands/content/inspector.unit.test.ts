import test from 'ava';
import {
  createInspector,
  PluginFailure,
  type InspectionInput,
  type InspectionPlugin,
  type PluginVerdict,
} from '../../../commands/content/inspector.ts';
import { secretsPlugin } from '../../../commands/content/plugins/secretsPlugin.ts';
import { textRulesPlugin } from '../../../commands/content/plugins/textRulesPlugin.ts';
import { awsAccessKeyId, chainbookToken, pemPrivateKey } from '../../helpers/hostileContent.ts';

const actor = { id: 'pub-1', role: 'Publisher' };
const text = (value: string, subject: InspectionInput['subject'] = 'manifest'): InspectionInput => ({
  text: value,
  contentType: 'text/plain',
  actor,
  subject,
});
const fixed = (name: string, tier: 'CLEAR' | 'QUARANTINE' | 'BLOCK'): InspectionPlugin => ({
  name,
  appliesTo: ['manifest', 'listing', 'artifact'],
  inspect: async () => ({ tier, labels: [`${name}.said`], reason: `${name} says ${tier}` }),
});

test('the most severe tier of the plugins wins, and every label is kept', async (t) => {
  const inspector = createInspector({ plugins: [fixed('a', 'CLEAR'), fixed('b', 'BLOCK'), fixed('c', 'QUARANTINE')] });
  const result = await inspector.inspect(text('hello'));
  t.is(result.tier, 'BLOCK');
  t.deepEqual(result.labels, ['a.said', 'b.said', 'c.said']);
  t.deepEqual(
    result.pluginResults.map((r) => [r.plugin, r.tier, r.outcome]),
    [
      ['a', 'CLEAR', 'ok'],
      ['b', 'BLOCK', 'ok'],
      ['c', 'QUARANTINE', 'ok'],
    ],
  );
});

test('a plugin that hangs gives a timeout result with the configured tier, and the inspection does not hang', async (t) => {
  let aborted = false;
  const hangs: InspectionPlugin = {
    name: 'hangs',
    appliesTo: ['manifest'],
    inspect: (_input, signal) =>
      new Promise(() => {
        signal.addEventListener('abort', () => (aborted = true));
      }),
  };
  const inspector = createInspector({ plugins: [hangs, fixed('ok', 'CLEAR')], timeoutMs: 50, failureTier: 'BLOCK' });
  const started = Date.now();
  const result = await inspector.inspect(text('hello'));
  t.true(Date.now() - started < 2000);
  t.is(result.tier, 'BLOCK');
  const hung = result.pluginResults.find((r) => r.plugin === 'hangs')!;
  t.is(hung.outcome, 'timeout');
  t.deepEqual(hung.labels, ['plugin.timeout']);
  t.true(aborted, 'the plugin is told to stop');
});

test('a plugin that throws gives an error result with the configured tier (QUARANTINE by default)', async (t) => {
  const throws: InspectionPlugin = {
    name: 'throws',
    appliesTo: ['manifest'],
    inspect: () => {
      throw new Error('boom');
    },
  };
  const result = await createInspector({ plugins: [throws] }).inspect(text('hello'));
  t.is(result.tier, 'QUARANTINE');
  t.like(result.pluginResults[0], { plugin: 'throws', outcome: 'error', tier: 'QUARANTINE', labels: ['plugin.error'] });
  t.is(result.pluginResults[0]!.reason, 'throws failed (Error)');
});

test('a plugin error is recorded by its name, not its message, which may quote the content (JSON.parse does); a PluginFailure keeps its message', async (t) => {
  const parses: InspectionPlugin = {
    name: 'parses',
    appliesTo: ['manifest'],
    inspect: async (input) => JSON.parse(input.text!) as PluginVerdict,
  };
  const fails: InspectionPlugin = {
    name: 'fails',
    appliesTo: ['manifest'],
    inspect: async () => {
      throw new PluginFailure('the rules file does not compile');
    },
  };
  const content = 'secret launch plans, not JSON';
  const result = await createInspector({ plugins: [parses, fails] }).inspect(text(content));
  t.false(JSON.stringify(result).includes('secret'), JSON.stringify(result.pluginResults[0]));
  t.is(result.pluginResults[0]!.reason, 'parses failed (SyntaxError)');
  t.is(result.pluginResults[1]!.reason, 'fails failed: the rules file does not compile');
});

test('observe is told of submissions, not of /ready probes (the decision metrics count submissions)', async (t) => {
  const observed: string[] = [];
  const inspector = createInspector({
    plugins: [fixed('ok', 'CLEAR')],
    observe: (result, subject) => observed.push(`${subject}:${result.tier}`),
  });
  await inspector.inspect({ ...text('chainbook readiness probe'), probe: true });
  t.deepEqual(observed, []);
  await inspector.inspect(text('a submission'));
  t.deepEqual(observed, ['manifest:CLEAR']);
});

test('plugins run only on the subjects they apply to', async (t) => {
  const onlyArtifacts: InspectionPlugin = { ...fixed('art', 'BLOCK'), appliesTo: ['artifact'] };
  const result = await createInspector({ plugins: [onlyArtifacts] }).inspect(text('hello', 'listing'));
  t.is(result.tier, 'CLEAR');
  t.deepEqual(result.pluginResults, []);
});

test('labels a plugin makes up are bounded and well formed before they reach the chain', async (t) => {
  const noisy: InspectionPlugin = {
    name: 'noisy',
    appliesTo: ['manifest'],
    inspect: async () => ({
      tier: 'CLEAR',
      labels: ['ok.label', 'Not A Label', 'x'.repeat(200)],
      reason: 'r'.repeat(900),
    }),
  };
  const [result] = (await createInspector({ plugins: [noisy] }).inspect(text('hello'))).pluginResults;
  t.deepEqual(result!.labels, ['ok.label']);
  t.is(result!.reason!.length, 500);
});

test('a partial artifact inspection adds the configured partial tier', async (t) => {
  const result = await createInspector({ plugins: [], partialTier: 'QUARANTINE' }).inspect({
    bytes: Buffer.from('abc'),
    contentType: 'application/octet-stream',
    actor,
    subject: 'artifact',
    partial: true,
  });
  t.is(result.tier, 'QUARANTINE');
  t.deepEqual(result.labels, ['inspection.partial']);
});

test('the secrets plugin blocks PEM private keys, AWS access keys and our bearer tokens, naming the kind but not the secret', async (t) => {
  const plugin = createInspector({ plugins: [secretsPlugin()] });
  const cases = [
    [pemPrivateKey(), 'secret.pem-private-key'],
    [`key id ${awsAccessKeyId()} here`, 'secret.aws-access-key-id'],
    [`aws_secret_access_key = ${'A1b2C3d4/'.repeat(4)}abcd`, 'secret.aws-secret-access-key'],
    // The pattern's name in any case (its "secret" gate ignores case).
    [`export AWS_SECRET_ACCESS_KEY="${'A1b2C3d4/'.repeat(4)}abcd"`, 'secret.aws-secret-access-key'],
    [`Aws_SeCrEt: ${'A1b2C3d4/'.repeat(4)}abcd`, 'secret.aws-secret-access-key'],
    [`Authorization: Bearer ${chainbookToken()}`, 'secret.chainbook-token'],
  ] as const;
  for (const [content, label] of cases) {
    const result = await plugin.inspect(text(content));
    t.is(result.tier, 'BLOCK', label);
    t.true(result.labels.includes(label), label);
    const serialized = JSON.stringify(result);
    t.false(serialized.includes(content.trim().slice(-30)), `the result does not carry the ${label}`);
  }
  const bytes = Buffer.concat([Buffer.from([0, 1, 2, 255]), Buffer.from(pemPrivateKey()), Buffer.from([0])]);
  const binary = await plugin.inspect({ bytes, contentType: 'application/octet-stream', actor, subject: 'artifact' });
  t.is(binary.tier, 'BLOCK');
  t.is((await plugin.inspect(text('a plain description, version 1.2, cb_short'))).tier, 'CLEAR');
});

test('the text rules block configured domains (and their subdomains) and words, and hold quarantine words', async (t) => {
  const inspector = createInspector({
    plugins: [
      textRulesPlugin({ blockedDomains: ['evil.example'], blockedWords: ['warez'], quarantineWords: ['crack'] }),
    ],
  });
  t.is((await inspector.inspect(text('see https://cdn.evil.example/x'))).tier, 'BLOCK');
  t.is((await inspector.inspect(text('Free WAREZ inside'))).tier, 'BLOCK');
  t.is((await inspector.inspect(text('includes a crack'))).tier, 'QUARANTINE');
  t.is((await inspector.inspect(text('not-evil.example.org, crackers and warezless'))).tier, 'CLEAR');
  const blocked = await inspector.inspect(text('visit evil.example'));
  t.deepEqual(blocked.labels, ['text.blocked-domain']);
  t.regex(blocked.pluginResults[0]!.reason!, /blocked domain rule #1 \(CONTENT_BLOCKED_DOMAINS\)/);
});

test('the text rules name the rule that matched by its position, never the word or domain: the reason goes into the chain', async (t) => {
  const rules = {
    blockedDomains: ['spam.example', 'evil.example'],
    blockedWords: ['warez'],
    quarantineWords: ['crack'],
  };
  const inspector = createInspector({ plugins: [textRulesPlugin(rules)] });
  const result = await inspector.inspect(text('Free WAREZ and a crack at cdn.evil.example'));
  const serialized = JSON.stringify(result).toLowerCase();
  for (const entry of ['warez', 'crack', 'evil.example']) t.false(serialized.includes(entry), entry);
  t.is(
    result.pluginResults[0]!.reason,
    'matches the blocked domain rule #2 (CONTENT_BLOCKED_DOMAINS), blocked word rule #1 (CONTENT_BLOCKED_WORDS), quarantine word rule #1 (CONTENT_QUARANTINE_WORDS)',
  );
});

test('an archive walk that hangs or throws is recorded as the result archive with the failure tier; the plugins run without members', async (t) => {
  const seen: (number | undefined)[] = [];
  const counting: InspectionPlugin = {
    name: 'counting',
    appliesTo: ['artifact'],
    async inspect(input) {
      seen.push(input.members?.length);
      return { tier: 'CLEAR', labels: [] };
    },
  };
  const artifact = { bytes: Buffer.from('PK'), contentType: 'application/zip', actor, subject: 'artifact' as const };
  const hanging = createInspector({ plugins: [counting], timeoutMs: 50, unpack: () => new Promise(() => undefined) });
  const started = Date.now();
  const hung = await hanging.inspect(artifact);
  t.true(Date.now() - started < 2000);
  t.is(hung.tier, 'QUARANTINE');
  t.like(hung.pluginResults[0], { plugin: 'archive', outcome: 'timeout', tier: 'QUARANTINE' });
  const throwing = createInspector({
    plugins: [counting],
    failureTier: 'BLOCK',
    unpack: async () => {
      throw new Error('a secret-looking message that must not be recorded');
    },
  });
  const threw = await throwing.inspect(artifact);
  t.is(threw.tier, 'BLOCK');
  t.like(threw.pluginResults[0], { plugin: 'archive', outcome: 'error', reason: 'archive failed (Error)' });
  const walked = createInspector({
    plugins: [counting],
    unpack: async () => ({ members: [{ path: '1', bytes: Buffer.from('x') }], verdict: { tier: 'CLEAR', labels: [] } }),
  });
  t.is((await walked.inspect(artifact)).tier, 'CLEAR');
  t.is((await walked.inspect(text('not an artifact'))).pluginResults.length, 0, 'text is not walked');
  t.deepEqual(seen, [0, 0, 1]);
});

test('at most maxConcurrentUnpacks archive walks run at once (each may hold its bound in memory); a waiting walk times out only after it got its slot', async (t) => {
  let running = 0;
  let most = 0;
  const releases: (() => void)[] = [];
  const inspector = createInspector({
    plugins: [],
    timeoutMs: 1000,
    maxConcurrentUnpacks: 2,
    unpack: async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running -= 1;
      return { members: [], verdict: { tier: 'CLEAR', labels: [] } };
    },
  });
  const artifact = { bytes: Buffer.from('PK'), contentType: 'application/zip', actor, subject: 'artifact' as const };
  const inspections = Array.from({ length: 6 }, () => inspector.inspect(artifact));
  // Each walk is let go 400 ms after it started: six in three rounds take 1.2 s, longer than the 1 s timeout,
  // so a walk whose clock ran while it waited for a slot would time out.
  const letGo = setInterval(() => releases.shift()?.(), 200);
  try {
    const results = await Promise.all(inspections);
    t.is(most, 2);
    t.deepEqual(
      results.map((result) => result.pluginResults[0]?.outcome),
      ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'],
    );
  } finally {
    clearInterval(letGo);
  }
});
