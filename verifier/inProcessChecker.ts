import type { SignerRegistry } from '../chain/registry.ts';
import { checkLine } from './line.ts';
import type { LineChecker } from './reader.ts';

/** Checks lines on the calling thread: for small ranges, tests and environments without workers. */
export function inProcessChecker(registry: SignerRegistry): LineChecker {
  return {
    check: async (lines) => lines.map((line) => checkLine(line, registry)),
    close: async () => undefined,
  };
}
