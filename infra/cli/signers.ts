/** `chainbook signers …`: the signer registry in use. */
import type { Command } from 'commander';
import { registryText } from '../signers/registryFile.ts';
import { registryFor } from './auditVerify.ts';
import { EXIT, writeOut } from './io.ts';

export function registerSigners(program: Command, exit: (code: number) => void): void {
  const signers = program.command('signers').description('the signer registry (signers.json)');
  signers
    .command('export')
    .description('print the registry in use as signers.json (public keys only)')
    .option('-s, --signers <file>', 'registry file (default: CHAINBOOK_SIGNERS or <data dir>/signers.json)')
    .action(async (options: { signers?: string }) => {
      await writeOut(registryText(registryFor(options.signers)));
      exit(EXIT.ok);
    });
}
