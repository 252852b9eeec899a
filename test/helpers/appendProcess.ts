/**
 * A separate OS process that appends to a chain and prints one JSON line per
 * acknowledged event ({"seq", "id", "hash"}), for the multi-process and
 * crash tests. Usage:
 *   node --import tsx test/helpers/appendProcess.ts <database-url-or-pglite-dir> <data-dir> <tag> <appends> <in-flight>
 * appends = 0 means forever (until killed).
 */
import { loadConfig } from '../../infra/wiring/config.ts';
import { openRuntime } from '../../infra/wiring/runtime.ts';

const [target, dataDir, tag, appendsText, inFlightText] = process.argv.slice(2);
const appends = Number(appendsText);
const inFlight = Number(inFlightText);
const env = target!.startsWith('postgres')
  ? { DATABASE_URL: target!, CHAINBOOK_DATA_DIR: dataDir! }
  : { CHAINBOOK_DATA_DIR: target! };
const runtime = await openRuntime(loadConfig({ ...env, CHAINBOOK_SIGNERS: `${dataDir}/signers.json` }));
let next = 0;

async function lane(): Promise<void> {
  while (appends === 0 || next < appends) {
    const n = next++;
    const result = await runtime.store.append('main', [
      // A stream of its own, and a stream all processes share without expectedVersion:
      // both must come out with linear, unique versions.
      {
        stream: `quote-${tag}-${n}`,
        type: 'quote.recorded',
        data: { tag: tag!, n },
        actor: { id: `writer-${tag}`, role: 'Service' },
      },
      {
        stream: `shared-${n % 5}`,
        type: 'counter.incremented',
        data: { tag: tag!, n },
        actor: { id: `writer-${tag}`, role: 'Service' },
      },
    ]);
    for (const event of result.events)
      process.stdout.write(`${JSON.stringify({ seq: event.seq, id: event.id, hash: event.hash })}\n`);
  }
}

await Promise.all(Array.from({ length: inFlight }, lane));
await runtime.close();
