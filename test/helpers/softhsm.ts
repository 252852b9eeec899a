/**
 * A throw-away SoftHSM2 token for tests: a config and token folder in a temp
 * directory (SOFTHSM2_CONF points at it for this process), initialised with
 * softhsm2-util. .ci/run installs softhsm2 when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pkcs11Settings } from '../../infra/adapters/signers/pkcs11.ts';
import { tempDir } from './runtime.ts';

const MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

export function softHsmModule(): string | undefined {
  return [process.env['SOFTHSM2_MODULE'], ...MODULE_CANDIDATES].find(
    (path): path is string => path !== undefined && existsSync(path),
  );
}

export interface SoftHsmToken extends Pkcs11Settings {
  directory: string;
  conf: string;
  remove(): void;
}

/** Initialises a fresh token in a temp folder and points SOFTHSM2_CONF (of this process and its children) at it. */
export function softHsmToken(tokenLabel = 'chainbook-test'): SoftHsmToken {
  const modulePath = softHsmModule();
  if (!modulePath) throw new Error('SoftHSM2 is not installed: apt-get install -y softhsm2 (.ci/run does this)');
  const directory = tempDir('softhsm');
  mkdirSync(join(directory, 'tokens'));
  const conf = join(directory, 'softhsm2.conf');
  writeFileSync(
    conf,
    `directories.tokendir = ${join(directory, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  process.env['SOFTHSM2_CONF'] = conf;
  const pin = '1234';
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', tokenLabel, '--pin', pin, '--so-pin', '5678'], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    stdio: 'pipe',
  });
  return {
    modulePath,
    tokenLabel,
    pin,
    directory,
    conf,
    remove: () => rmSync(directory, { recursive: true, force: true }),
  };
}
