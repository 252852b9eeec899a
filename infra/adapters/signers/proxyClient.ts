/**
 * Signing-proxy client: `POST {SIGNING_PROXY_URL}/sign` with
 * `{hash_hex, preimage_b64?, kid}` → `{signature_b64, signer_id}`, and
 * `GET /health` → `{status, signer_id, algorithm, public_key_pem}`.
 * Documents (signMessage) go as `{message_b64, kid}` to the same endpoint:
 * an Ed25519 document signature is over the document itself, not a hash.
 *
 * The API key travels as `Authorization: Bearer …` and never appears in a
 * message or log. With `tls`, the connection presents a client certificate
 * (a proxy that verifies its callers by mTLS) and trusts the given CA; it
 * goes through undici's own fetch with an Agent holding them. Every call has a timeout, bounded retries and the circuit
 * breaker; signing_proxy_health follows the last call's outcome.
 */
import { createPublicKey } from 'node:crypto';
import { Agent, fetch as undiciFetch } from 'undici';
import { CodedError } from '../../../domain/errors.ts';
import { MAX_SIGN_IN_FLIGHT } from '../../../chain/limits.ts';
import type { RecordSignature } from '../../../chain/record.ts';
import { isSignatureAlgorithm, lowSEcdsaDer, type SignatureAlgorithm } from '../../../chain/signature.ts';
import { signConcurrently, type SignRequest } from '../../../chain/signer.ts';
import { signingProxyHealth } from '../metrics.ts';
import type { BackendSigner } from './backend.ts';
import { remoteCaller, type RemoteCallOptions } from './remote.ts';
import { SignerUnavailableError } from './resilience.ts';

export interface ProxyHealth {
  status: string;
  signer_id: string;
  algorithm: string;
  public_key_pem: string;
}

/** PEM bytes: the client certificate and key presented to the proxy, and the CA its certificate must chain to. */
export interface ProxyClientTls {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
}

type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

/** The global fetch, or one whose connections present the client certificate. */
export function proxyFetcher(tls: ProxyClientTls | undefined): Fetcher {
  if (tls === undefined) return (url, init) => fetch(url, init);
  const dispatcher = new Agent({
    connect: {
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      ...(tls.ca ? { ca: tls.ca } : {}),
    },
  });
  return (url, init) =>
    undiciFetch(url, {
      ...(init as unknown as Parameters<typeof undiciFetch>[1]),
      dispatcher,
    }) as unknown as Promise<Response>;
}

export interface ProxySignerOptions extends RemoteCallOptions {
  url: string;
  apiKey: string;
  tls?: ProxyClientTls | undefined;
  /** The kid the proxy must sign as (SIGNING_KID). */
  kid: string;
  maxInFlight?: number;
}

function endpoint(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/** The proxy's URL for messages: no credentials, no query. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return '<unparseable URL>';
  }
}

function networkError(error: unknown, where: string): SignerUnavailableError {
  const name = (error as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError')
    return new SignerUnavailableError(`signing proxy ${where} timed out`, 'timeout', true);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return new SignerUnavailableError(
    `signing proxy ${where} unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    'unavailable',
    true,
  );
}

async function requestJson(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  where: string,
  fetcher: Fetcher,
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetcher(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw networkError(error, where);
  }
  const text = await response.text().catch(() => '');
  if (response.ok) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new SignerUnavailableError(
        `signing proxy ${where} answered with a body that is not JSON`,
        'unavailable',
        false,
      );
    }
  }
  const detail = text.slice(0, 200);
  if (response.status === 401 || response.status === 403) {
    throw new SignerUnavailableError(
      `signing proxy ${where} refused the API key (${response.status})`,
      'unauthorized',
      false,
      { status: response.status },
    );
  }
  const retryable = response.status === 429 || response.status >= 500;
  throw new SignerUnavailableError(
    `signing proxy ${where} answered ${response.status}: ${detail}`,
    response.status === 429 ? 'throttled' : 'unavailable',
    retryable,
    {
      status: response.status,
    },
  );
}

export async function readProxyHealth(
  url: string,
  timeoutMs: number,
  fetcher: Fetcher = proxyFetcher(undefined),
): Promise<ProxyHealth> {
  const body = (await requestJson(
    endpoint(url, '/health'),
    { method: 'GET' },
    timeoutMs,
    'GET /health',
    fetcher,
  )) as Partial<ProxyHealth>;
  if (
    typeof body.signer_id !== 'string' ||
    typeof body.public_key_pem !== 'string' ||
    typeof body.algorithm !== 'string'
  ) {
    throw new SignerUnavailableError(
      'signing proxy GET /health lacks signer_id, algorithm or public_key_pem',
      'unavailable',
      false,
    );
  }
  return body as ProxyHealth;
}

/** Opens a proxy signer: reads /health to learn the proxy's signer and public key, for the registry cross-check. */
export async function openProxySigner(options: ProxySignerOptions): Promise<BackendSigner> {
  const caller = remoteCaller('proxy', (error) => error instanceof SignerUnavailableError && error.retryable, options);
  const observed = async <T>(work: Promise<T>): Promise<T> => {
    try {
      const result = await work;
      signingProxyHealth.set(1);
      return result;
    } catch (error) {
      signingProxyHealth.set(0);
      throw error;
    }
  };
  const fetcher = proxyFetcher(options.tls);
  const health = await observed(caller.call((timeoutMs) => readProxyHealth(options.url, timeoutMs, fetcher)));
  const { kid } = options;
  if (health.signer_id !== kid || !isSignatureAlgorithm(health.algorithm)) {
    throw new CodedError(
      'SIGNER_KEY_MISMATCH',
      `the signing proxy at ${describeUrl(options.url)} signs as ${health.signer_id} (${health.algorithm}), SIGNING_KID is ${kid}`,
      {
        signerId: health.signer_id,
        kid,
      },
    );
  }
  const algorithm: SignatureAlgorithm = health.algorithm;
  const headers = { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' };
  const post = (body: Record<string, string>): Promise<RecordSignature> =>
    observed(
      caller.call(async (timeoutMs) => {
        const answer = (await requestJson(
          endpoint(options.url, '/sign'),
          { method: 'POST', headers, body: JSON.stringify(body) },
          timeoutMs,
          'POST /sign',
          fetcher,
        )) as {
          signature_b64?: unknown;
          signer_id?: unknown;
        };
        if (answer.signer_id !== kid || typeof answer.signature_b64 !== 'string') {
          throw new SignerUnavailableError(
            `signing proxy signed as ${String(answer.signer_id)}, expected ${kid}`,
            'mismatch',
            false,
          );
        }
        // The proxy forwards what its backend returned; an ECDSA backend returns either S (docs/FORMAT.md section 3).
        const value =
          algorithm === 'ecdsa-p256-sha256'
            ? lowSEcdsaDer(Buffer.from(answer.signature_b64, 'base64')).toString('base64')
            : answer.signature_b64;
        return { kid, alg: algorithm, value };
      }),
    );
  const signOne = (request: SignRequest): Promise<RecordSignature> =>
    post({ hash_hex: Buffer.from(request.hash).toString('hex'), kid });
  return {
    kid,
    algorithm,
    publicKey: createPublicKey(health.public_key_pem),
    description: `signing proxy ${describeUrl(options.url)}`,
    sign: (hash, preimage) => signOne({ hash, preimage }),
    signBatch: (requests) => signConcurrently(requests, options.maxInFlight ?? MAX_SIGN_IN_FLIGHT, signOne),
    signMessage: (message) => post({ message_b64: Buffer.from(message).toString('base64'), kid }),
    close: async () => undefined,
  };
}
