import { parseDelegation, type Delegation, type DelegationData } from '../chain/delegation.ts';
import type { SignerRegistry } from '../chain/registry.ts';
import { checkLine, documentSignatureProblem, type LineCheckOptions } from './line.ts';
import type { LineChecker } from './reader.ts';

/** Session signers learned from verified signer.delegated records, by kid. */
export function delegationTable(): { delegations: Map<string, Delegation>; learn(data: DelegationData): void } {
  const delegations = new Map<string, Delegation>();
  return {
    delegations,
    learn(data) {
      const parsed = parseDelegation(data);
      if (typeof parsed !== 'string') delegations.set(parsed.kid, parsed);
    },
  };
}

/** Checks lines on the calling thread: for small ranges, tests and environments without workers. */
export function inProcessChecker(registry: SignerRegistry, options: LineCheckOptions = {}): LineChecker {
  const table = delegationTable();
  return {
    check: async (lines) => lines.map((line) => checkLine(line, registry, table.delegations, options)),
    learnDelegation: (delegation) => table.learn(delegation),
    recheck: (line) => checkLine(line, registry, table.delegations, options),
    isRegistered: (kid) => registry.signers.has(kid),
    documentSignatureProblem: (signature, tsMs, message) =>
      documentSignatureProblem(registry, signature, tsMs, message, options),
    close: async () => undefined,
  };
}
