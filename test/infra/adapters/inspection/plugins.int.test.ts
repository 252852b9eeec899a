import test from 'ava';
import { createInspector, type InspectionInput } from '../../../../commands/content/inspector.ts';
import { contentTypePlugin } from '../../../../infra/adapters/inspection/contentTypePlugin.ts';
import { checkYara, yaraPlugin } from '../../../../infra/adapters/inspection/yaraPlugin.ts';
import {
  awsAccessKeyId,
  chainbookToken,
  eicar,
  pemPrivateKey,
  pngBytes,
  zipBytes,
} from '../../../helpers/hostileContent.ts';

const actor = { id: 'pub-1', role: 'Publisher' };
const artifact = (bytes: Buffer, contentType: string): InspectionInput => ({
  bytes,
  contentType,
  actor,
  subject: 'artifact',
});

test('YARA (the Debian yara command, the repository rules) blocks the EICAR test file', async (t) => {
  const inspector = createInspector({ plugins: [yaraPlugin()] });
  const result = await inspector.inspect(artifact(Buffer.from(eicar()), 'application/octet-stream'));
  t.is(result.tier, 'BLOCK');
  t.deepEqual(result.labels, ['yara.eicar_test_file']);
  t.like(result.pluginResults[0], { plugin: 'yara', outcome: 'ok' });
  t.false(JSON.stringify(result).includes('EICAR-STANDARD'), 'the verdict names the rule, not the match');
});

test('YARA finds the secret patterns in bytes and in text, and passes clean content', async (t) => {
  const inspector = createInspector({ plugins: [yaraPlugin()] });
  const key = await inspector.inspect(
    artifact(Buffer.concat([zipBytes(), Buffer.from(pemPrivateKey()), Buffer.from([0, 255])]), 'application/zip'),
  );
  t.deepEqual(key.labels, ['yara.pem_private_key']);
  const text = await inspector.inspect({
    text: `id ${awsAccessKeyId()} token ${chainbookToken()}`,
    contentType: 'text/plain',
    actor,
    subject: 'listing',
  });
  t.deepEqual(text.labels, ['yara.aws_access_key_id', 'yara.chainbook_bearer_token']);
  t.is(text.tier, 'BLOCK');
  t.is((await inspector.inspect(artifact(zipBytes(), 'application/zip'))).tier, 'CLEAR');
  await t.notThrowsAsync(checkYara());
});

test('a missing yara command or broken rules is a plugin error with the failure tier, never a pass', async (t) => {
  const missing = createInspector({ plugins: [yaraPlugin({ command: '/nonexistent/yara' })], failureTier: 'BLOCK' });
  const result = await missing.inspect(artifact(Buffer.from('hello'), 'application/octet-stream'));
  t.is(result.tier, 'BLOCK');
  t.like(result.pluginResults[0], { outcome: 'error' });
  await t.throwsAsync(checkYara({ rulesPath: '/nonexistent/rules.yar' }));
});

test('the content type plugin: the declared type against the sniffed type', async (t) => {
  const inspector = createInspector({ plugins: [contentTypePlugin()] });
  const png = await inspector.inspect(artifact(pngBytes(), 'image/png'));
  t.is(png.tier, 'CLEAR');
  t.deepEqual(png.labels, ['content-type.image-png']);
  const disguised = await inspector.inspect(artifact(zipBytes(), 'image/png'));
  t.is(disguised.tier, 'QUARANTINE');
  t.true(disguised.labels.includes('content-type.mismatch'));
  t.regex(disguised.pluginResults[0]!.reason!, /declared image\/png but the bytes are application\/zip/);
  t.is((await inspector.inspect(artifact(zipBytes(), 'application/octet-stream'))).tier, 'CLEAR');
  t.is((await inspector.inspect(artifact(Buffer.from('plain words\n'), 'text/plain'))).tier, 'CLEAR');
  t.is((await inspector.inspect(artifact(Buffer.from('plain words\n'), 'image/png'))).tier, 'QUARANTINE');
  const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(64)]);
  const executable = await inspector.inspect(artifact(elf, 'text/plain'));
  t.is(executable.tier, 'QUARANTINE');
  t.true(executable.labels.includes('content-type.executable'));
});

test('an executable not declared as one (octet-stream, no type, a document type) is held; declared as a program it passes', async (t) => {
  const inspector = createInspector({ plugins: [contentTypePlugin()] });
  const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(64)]);
  const undeclared = await inspector.inspect(artifact(elf, 'application/octet-stream'));
  t.is(undeclared.tier, 'QUARANTINE');
  t.true(undeclared.labels.includes('content-type.undeclared-executable'));
  t.true(undeclared.labels.includes('content-type.undeclared'));
  t.false(undeclared.labels.includes('content-type.mismatch'), 'octet-stream is never a mismatch');
  t.regex(undeclared.pluginResults[0]!.reason!, /an executable \(application\/x-elf\) not declared as one/);
  t.is((await inspector.inspect(artifact(elf, ''))).tier, 'QUARANTINE');
  const declared = await inspector.inspect(artifact(elf, 'application/x-executable'));
  t.is(declared.tier, 'CLEAR');
  t.true(declared.labels.includes('content-type.executable'));
  t.is((await inspector.inspect(artifact(elf, 'application/x-elf'))).tier, 'CLEAR');
  const pe = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(58), Buffer.from([64, 0, 0, 0]), Buffer.from('PE\0\0')]);
  t.is((await inspector.inspect(artifact(pe, 'application/octet-stream'))).tier, 'QUARANTINE');
  const configured = createInspector({ plugins: [contentTypePlugin('QUARANTINE', 'BLOCK')] });
  t.is((await configured.inspect(artifact(elf, 'application/octet-stream'))).tier, 'BLOCK');
  const allowed = createInspector({ plugins: [contentTypePlugin('QUARANTINE', 'CLEAR')] });
  t.is((await allowed.inspect(artifact(elf, 'application/octet-stream'))).tier, 'CLEAR');
});

test('octet-stream or no declared type: any known type fits, labelled with the sniffed type and as undeclared', async (t) => {
  const inspector = createInspector({ plugins: [contentTypePlugin()] });
  const png = await inspector.inspect(artifact(pngBytes(), 'application/octet-stream'));
  t.is(png.tier, 'CLEAR');
  t.deepEqual(png.labels, ['content-type.image-png', 'content-type.undeclared']);
  const none = await inspector.inspect(artifact(zipBytes(), ''));
  t.is(none.tier, 'CLEAR');
  t.deepEqual(none.labels, ['content-type.application-zip', 'content-type.undeclared']);
});

test('a member yara cannot scan in time is a plugin failure, never a pass; a blocking match elsewhere still blocks', async (t) => {
  // A member that takes yara's token rule about 5 s (43 MB of near-tokens, none whole): past its own scan
  // timeout (-a 1) yara reports the file on standard error and, over a folder, still exits 0.
  const slow = (head: string) => Buffer.from(head + `${'cb_'.repeat(14)}!`.repeat(1_000_000));
  const inspector = createInspector({
    plugins: [yaraPlugin({ timeoutSeconds: 1 })],
    failureTier: 'QUARANTINE',
    timeoutMs: 60_000,
  });
  const withMembers = (members: Buffer[]): InspectionInput => ({
    ...artifact(Buffer.from('an archive'), 'application/zip'),
    members: members.map((bytes, index) => ({ path: String(index + 1), bytes })),
  });
  const hidden = await inspector.inspect(withMembers([slow(eicar()), Buffer.from('readme')]));
  t.is(hidden.tier, 'QUARANTINE', JSON.stringify(hidden.pluginResults));
  t.like(hidden.pluginResults[0], { plugin: 'yara', outcome: 'error' });
  t.regex(hidden.pluginResults[0]!.reason!, /scanning timed out/);
  const blocked = await inspector.inspect(withMembers([slow(''), Buffer.from(eicar())]));
  t.is(blocked.tier, 'BLOCK');
  t.deepEqual(blocked.labels, ['yara.eicar_test_file']);
  // A match in each of 5000 members is more than 256 KiB of yara's output: still a BLOCK, not a failure. With the
  // default per-file timeout: at 1 s, a loaded machine times some of the 5000 small files out (each then a failure).
  const patient = createInspector({ plugins: [yaraPlugin()], failureTier: 'QUARANTINE', timeoutMs: 60_000 });
  const many = await patient.inspect(withMembers(Array.from({ length: 5000 }, () => Buffer.from(eicar()))));
  t.is(many.tier, 'BLOCK', JSON.stringify(many.pluginResults));
  t.regex(many.pluginResults[0]!.reason!, /in members (\d+, ){4}\d+ and 4995 more/);
});
