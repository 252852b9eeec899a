/** openDataKeys choosing the PKCS#11 service, on a throw-away SoftHSM2 token. */
import test from 'ava';
import { CodedError } from '../../../domain/errors.ts';
import { generateHsmWrappingKey } from '../../../infra/adapters/keys/pkcs11DataKeys.ts';
import { loadConfig } from '../../../infra/wiring/config.ts';
import { openDataKeys } from '../../../infra/wiring/dataKeys.ts';
import { softHsmToken, type SoftHsmToken } from '../../helpers/softhsm.ts';

let token: SoftHsmToken;
test.before(() => {
  token = softHsmToken();
  generateHsmWrappingKey(token, 'delivery');
});
test.after.always(() => token?.remove());

function pkcs11Env(keyLabel: string): Record<string, string> {
  return {
    DELIVERY_KEY_SERVICE: 'pkcs11',
    DELIVERY_PKCS11_KEY_LABEL: keyLabel,
    PKCS11_MODULE: token.modulePath,
    PKCS11_TOKEN_LABEL: token.tokenLabel,
    PKCS11_PIN: token.pin,
  };
}

test.serial(
  'DELIVERY_KEY_SERVICE=pkcs11 opens the key labelled DELIVERY_PKCS11_KEY_LABEL on the signer token',
  async (t) => {
    const { service, close } = openDataKeys(loadConfig(pkcs11Env('delivery')));
    t.teardown(close);
    t.is(service.origin, 'pkcs11');
    t.is(service.wrappingKeyId, 'delivery');
    const { plaintext, wrapped } = await service.generate('order-1');
    t.deepEqual(await service.unwrap('order-1', wrapped, 'delivery'), plaintext);
  },
);

test.serial('a DELIVERY_PKCS11_KEY_LABEL with no key on the token stops openDataKeys with HSM_KEY_NOT_FOUND', (t) => {
  const error = t.throws(() => openDataKeys(loadConfig(pkcs11Env('missing'))), { instanceOf: CodedError });
  t.is(error.code, 'HSM_KEY_NOT_FOUND');
  t.regex(error.message, /"missing"/);
});
