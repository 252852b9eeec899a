/**
 * The log's HTTP client of witnesses (chain/cosigning.ts, WitnessTransport):
 * POST `<url>/add-checkpoint` with the add-checkpoint body, bounded in time
 * and in the size of the answer read.
 */
import type { WitnessReply, WitnessTransport } from '../../../chain/cosigning.ts';

/** How long one witness may take to answer (docs/STYLE.md rule 7). */
export const WITNESS_REQUEST_TIMEOUT_MS = 5000;
/** Bytes of a witness's answer read: cosignature lines are about 150 bytes each. */
export const MAX_WITNESS_REPLY_BYTES = 64 * 1024;

async function boundedText(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_WITNESS_REPLY_BYTES) {
      await reader.cancel();
      throw new Error(`the witness answered more than ${MAX_WITNESS_REPLY_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

export function httpWitnessTransport(timeoutMs = WITNESS_REQUEST_TIMEOUT_MS): WitnessTransport {
  return async (url: string, body: string): Promise<WitnessReply> => {
    const response = await fetch(`${url}/add-checkpoint`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, text: await boundedText(response) };
  };
}
