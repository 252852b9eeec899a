/**
 * Which service makes Option B's data keys (DELIVERY_KEY_SERVICE,
 * commands/delivery/dataKeys.ts): a local wrapping key (DELIVERY_WRAPPING_KEY,
 * or a key file in the data directory on the embedded default), AWS KMS
 * (DELIVERY_KMS_KEY_ID in AWS_REGION), or an AES key on the signer's PKCS#11
 * token (DELIVERY_PKCS11_KEY_LABEL). loadConfig has already refused a
 * service whose variables are missing.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import type { DataKeyService } from '../../commands/delivery/dataKeys.ts';
import { assert, assertNever } from '../../domain/errors.ts';
import { kmsDataKeys } from '../adapters/keys/kmsDataKeys.ts';
import { localDataKeys, localWrappingKey } from '../adapters/keys/localDataKeys.ts';
import { openPkcs11DataKeys } from '../adapters/keys/pkcs11DataKeys.ts';
import type { Config } from './config.ts';

/**
 * Attempts per KMS data key call, the SDK's own retries included: unlike the
 * signer (whose retries are ours, counted), a data key is asked for once per
 * order, so the SDK's standard backoff is enough.
 */
export const DATA_KEY_KMS_MAX_ATTEMPTS = 3;

export interface DataKeys {
  service: DataKeyService;
  close(): void;
}

/** Opens the configured data key service; the caller closes it at shutdown. */
export function openDataKeys(config: Config): DataKeys {
  const { delivery } = config;
  switch (delivery.keyService) {
    case 'local':
      return {
        service: localDataKeys(localWrappingKey(delivery.wrappingKey, delivery.wrappingKeyFile)),
        close: () => undefined,
      };
    case 'kms': {
      assert(delivery.kms !== undefined, 'loadConfig requires DELIVERY_KMS_KEY_ID with DELIVERY_KEY_SERVICE=kms');
      const { keyId, region } = delivery.kms;
      const client = new KMSClient({
        maxAttempts: DATA_KEY_KMS_MAX_ATTEMPTS,
        ...(region === undefined ? {} : { region }),
      });
      return { service: kmsDataKeys({ client, keyId }), close: () => client.destroy() };
    }
    case 'pkcs11': {
      assert(
        delivery.pkcs11 !== undefined,
        'loadConfig requires the PKCS#11 settings with DELIVERY_KEY_SERVICE=pkcs11',
      );
      const service = openPkcs11DataKeys(delivery.pkcs11);
      return { service, close: () => service.close() };
    }
    default:
      return assertNever(delivery.keyService, 'DELIVERY_KEY_SERVICE');
  }
}
