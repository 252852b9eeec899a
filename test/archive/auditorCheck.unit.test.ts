/**
 * The auditor's check script (archive/auditorCheck.sh) refuses an ECDSA
 * signature with a high S, as audit-verify does (docs/FORMAT.md section 3):
 * OpenSSL alone accepts both forms.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDITOR_CHECK_SCRIPT_URL } from '../../archive/auditBundle.ts';
import { ecdsaTwins } from '../helpers/ecdsa.ts';
import { tempDir } from '../helpers/runtime.ts';

const script = readFileSync(AUDITOR_CHECK_SCRIPT_URL, 'utf8');

test('check.sh takes an ECDSA signature only in its low-S form, where OpenSSL takes both', (t) => {
  const lowS = /^low_s\(\) \{[\s\S]*?\n\}$/m.exec(script)?.[0];
  t.truthy(lowS, 'the script defines low_s');
  const folder = tempDir('low-s');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(folder, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(folder, 'payload'), 'a manifest');
  for (let index = 0; index < 8; index++) {
    const { low, high } = ecdsaTwins(
      sign('sha256', Buffer.from('a manifest'), { key: privateKey, dsaEncoding: 'ieee-p1363' }),
    );
    for (const [form, der, expected] of [
      ['low', low, 0],
      ['high', high, 1],
    ] as const) {
      writeFileSync(join(folder, `${form}.der`), der);
      const openssl = spawnSync(
        'openssl',
        ['dgst', '-sha256', '-verify', 'pub.pem', '-signature', `${form}.der`, 'payload'],
        {
          cwd: folder,
        },
      );
      t.is(openssl.status, 0, `OpenSSL verifies the ${form}-S form`);
      const run = spawnSync('bash', ['-c', `set -euo pipefail; export LC_ALL=C; ${lowS!}\nlow_s ${form}.der`], {
        cwd: folder,
      });
      t.is(run.status, expected, `low_s on the ${form}-S form`);
    }
  }
});
