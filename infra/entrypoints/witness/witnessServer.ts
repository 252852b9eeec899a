/**
 * The witness's HTTP service (`chainbook witness`), the C2SP tlog-witness
 * protocol (docs/FORMAT.md section 14, "Witnesses and cosignatures"):
 *
 *   POST /add-checkpoint   old size, consistency proof, checkpoint → the cosignature line (200),
 *                          or the size held (409, text/x.tlog.size), or a refusal (400, 403, 404, 422)
 *   GET /health            {status, name, vkey, logs}
 *
 * No authentication: a request is only as good as the log's signature on its
 * checkpoint. One JSON line per request through `log` (a 422, once a minute per reason).
 */
import { verificationFailuresTotal } from '../../adapters/metrics.ts';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  addCheckpoint,
  MAX_ADD_CHECKPOINT_BYTES,
  TLOG_SIZE_CONTENT_TYPE,
  type WitnessAnswer,
  type WitnessPolicy,
  type WitnessState,
} from '../../../chain/witness.ts';

/** Requests handled at once; more get 503 rather than queue without bound. */
export const WITNESS_MAX_IN_FLIGHT = 64;
/** How long a request may take to arrive whole. */
export const WITNESS_REQUEST_TIMEOUT_MS = 10_000;

export interface WitnessLogLine {
  ts: string;
  remote: string | undefined;
  method: string;
  path: string;
  status: number;
  origin?: string;
  size?: number;
  reason?: string;
  evidence?: boolean;
  /** 422 lines of the same reason left out since the last one logged (WITNESS_REFUSAL_LOG_INTERVAL_MS). */
  suppressed?: number;
  durationMs: number;
}

/**
 * A 422 (a proof that does not verify) is anyone's to send with a log's
 * genuine checkpoint: one line per reason in this interval, the others counted.
 */
export const WITNESS_REFUSAL_LOG_INTERVAL_MS = 60_000;
const MAX_REFUSAL_REASONS = 1000;

export interface WitnessServerOptions {
  policy: WitnessPolicy;
  state: WitnessState;
  /** The witness's verifier key, shown by /health. */
  vkey: string;
  host?: string;
  port?: number;
  log?: (line: WitnessLogLine) => void;
  /** The clock, in milliseconds (tests). */
  nowMs?: () => number;
}

export interface RunningWitness {
  url: string;
  server: Server;
  close(): Promise<void>;
}

class BodyTooLarge extends Error {}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ADD_CHECKPOINT_BYTES) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  // Not UTF-8 is not a note: a replacement character would be refused by the note's parser anyway.
  return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

function answerBody(answer: WitnessAnswer): { contentType: string; body: string } {
  if (answer.status === 200) return { contentType: 'text/plain; charset=utf-8', body: answer.body };
  if (answer.status === 409) return { contentType: TLOG_SIZE_CONTENT_TYPE, body: `${answer.size}\n` };
  return { contentType: 'text/plain; charset=utf-8', body: `${answer.reason}\n` };
}

export async function startWitnessServer(options: WitnessServerOptions): Promise<RunningWitness> {
  const log = options.log ?? ((line: WitnessLogLine) => process.stdout.write(`${JSON.stringify(line)}\n`));
  const nowMs = options.nowMs ?? Date.now;
  let inFlight = 0;
  const refusals = new Map<string, { atMs: number; suppressed: number }>();
  // Whether a 422 line is logged; the lines left out are counted on the next one of that reason.
  const refusalLogged = (reason: string, atMs: number): number | false => {
    const last = refusals.get(reason);
    if (last && atMs - last.atMs < WITNESS_REFUSAL_LOG_INTERVAL_MS) {
      last.suppressed++;
      return false;
    }
    if (refusals.size >= MAX_REFUSAL_REASONS) refusals.clear();
    refusals.set(reason, { atMs, suppressed: 0 });
    return last?.suppressed ?? 0;
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<Partial<WitnessLogLine>> => {
    const path = (request.url ?? '/').split('?')[0]!;
    if (path === '/health' && request.method === 'GET') {
      const body = {
        status: 'ok',
        name: options.policy.identity.name,
        vkey: options.vkey,
        logs: [...options.policy.logs.keys()],
      };
      send(response, 200, 'application/json', `${JSON.stringify(body)}\n`);
      return { status: 200 };
    }
    if (path !== '/add-checkpoint') {
      send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
      return { status: 404 };
    }
    if (request.method !== 'POST') {
      response.setHeader('allow', 'POST');
      send(response, 405, 'text/plain; charset=utf-8', 'POST only\n');
      return { status: 405 };
    }
    let body: string;
    try {
      body = await readBody(request);
    } catch (error) {
      const status = error instanceof BodyTooLarge ? 413 : 400;
      send(response, status, 'text/plain; charset=utf-8', status === 413 ? 'body too large\n' : 'not UTF-8\n');
      return { status, reason: status === 413 ? 'body too large' : 'not UTF-8' };
    }
    const answer = await addCheckpoint(options.policy, options.state, body, Math.floor(nowMs() / 1000));
    const { contentType, body: text } = answerBody(answer);
    send(response, answer.status, contentType, text);
    // A fork (the same size cosigned with another root): the log's history was rewritten.
    if (answer.status === 409 && answer.evidence !== undefined)
      verificationFailuresTotal.inc({ source: 'witness', reason: 'fork' });
    return answer.status === 200
      ? { status: 200, size: answer.state.size }
      : {
          status: answer.status,
          reason: answer.reason,
          evidence: answer.status === 409 && answer.evidence !== undefined,
        };
  };

  const server = createServer((request, response) => {
    const started = nowMs();
    // Read now: the socket is gone from the request once the answer is sent.
    const remote = request.socket?.remoteAddress;
    const finish = (line: Partial<WitnessLogLine>): void => {
      const suppressed = line.status === 422 ? refusalLogged(line.reason ?? '', started) : 0;
      if (suppressed === false) return;
      log({
        ts: new Date(started).toISOString(),
        remote,
        method: request.method ?? '',
        path: (request.url ?? '').slice(0, 200),
        status: 500,
        ...line,
        ...(suppressed > 0 ? { suppressed } : {}),
        durationMs: nowMs() - started,
      });
    };
    if (inFlight >= WITNESS_MAX_IN_FLIGHT) {
      send(response, 503, 'text/plain; charset=utf-8', 'busy\n');
      finish({ status: 503 });
      return;
    }
    inFlight++;
    handle(request, response)
      .then(finish, (error: unknown) => {
        // Its state could not be read or written (the disk): nothing was cosigned.
        if (!response.headersSent)
          send(response, 503, 'text/plain; charset=utf-8', 'the witness cannot keep its state\n');
        finish({ status: 503, reason: (error as Error).message });
      })
      .finally(() => inFlight--);
  });
  server.requestTimeout = WITNESS_REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
