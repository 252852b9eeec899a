/**
 * One sandboxed run in a process of its own, for the tests that need the service's process to hold
 * something a run must not get (an inherited descriptor): reads the run request as JSON from its first
 * argument, runs it and writes the output as text on standard output.
 */
import { runSandboxed, type SandboxRunRequest } from '../../infra/adapters/sandbox/sandboxRunner.ts';

const request = JSON.parse(process.argv[2] ?? '{}') as SandboxRunRequest;
const result = await runSandboxed(request);
process.stdout.write(JSON.stringify({ output: result.output.toString('utf8'), log: result.log.toString('utf8') }));
