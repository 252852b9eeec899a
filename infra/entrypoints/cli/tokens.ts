/** `chainbook tokens`: static bearer tokens for the HTTP API, stored as SHA-256 hashes in tokens.json. */
import type { Command } from 'commander';
import { ROLES, type Role } from '../../../domain/actor.ts';
import { addToken, revokeTokens, tokenDigest } from '../http/auth/tokens.ts';
import { loadServeConfig } from '../../wiring/httpConfig.ts';
import { EXIT, UsageError } from './io.ts';

function tokensPath(file: string | undefined): string {
  return file ?? loadServeConfig().http.tokensPath;
}

export function registerTokens(program: Command, exit: (code: number) => void): void {
  const tokens = program.command('tokens').description('bearer tokens of the HTTP API (only their hashes are stored)');
  tokens
    .command('add')
    .description('make a token for an actor and role; prints it once')
    .requiredOption('--actor <id>', 'the actor id the token authenticates as')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--expires-at <time>', 'refuse the token from this RFC 3339 time on (e.g. 2027-01-31T00:00:00Z)')
    .option('--file <path>', 'the token file (default CHAINBOOK_TOKENS_FILE or <data dir>/tokens.json)')
    .action((options: { actor: string; role: string; expiresAt?: string; file?: string }) => {
      if (!(ROLES as readonly string[]).includes(options.role))
        throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      const token = addToken(tokensPath(options.file), options.actor, options.role as Role, options.expiresAt);
      process.stdout.write(`${token}\n`);
      exit(EXIT.ok);
    });
  tokens
    .command('revoke')
    .description('remove every token of an actor')
    .requiredOption('--actor <id>', 'the actor id')
    .option('--file <path>', 'the token file')
    .action((options: { actor: string; file?: string }) => {
      const removed = revokeTokens(tokensPath(options.file), options.actor);
      // A running server re-reads the file within TOKEN_FILE_CHECK_INTERVAL_MS.
      process.stdout.write(`${removed} token(s) removed; a running server applies it within a second\n`);
      exit(removed > 0 ? EXIT.ok : EXIT.failed);
    });
  tokens
    .command('hash')
    .description('print the SHA-256 of a token read from stdin, for API_TOKENS=actor:Role:<hash>')
    .action(async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      process.stdout.write(`${tokenDigest(Buffer.concat(chunks).toString('utf8').trim())}\n`);
      exit(EXIT.ok);
    });
}
