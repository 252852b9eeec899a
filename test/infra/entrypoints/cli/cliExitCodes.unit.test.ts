import test from 'ava';
import { CodedError } from '../../../../domain/errors.ts';
import { ChainError } from '../../../../chain/errors.ts';
import { RegistryError } from '../../../../chain/registry.ts';
import { exitCodeFor } from '../../../../infra/entrypoints/cli/main.ts';
import { UsageError } from '../../../../infra/entrypoints/cli/io.ts';

test('a rejection of what was asked exits 1; a command that could not run exits 2', (t) => {
  t.is(exitCodeFor(new ChainError('STREAM_VERSION_CONFLICT', 'x')), 1);
  t.is(exitCodeFor(new CodedError('PROOF_RANGE_EMPTY', 'no ledger entries in range')), 1);
  t.is(exitCodeFor(new CodedError('LEDGER_UNBALANCED', 'x')), 1);
  t.is(exitCodeFor(new UsageError('--from must be an integer')), 2);
  t.is(exitCodeFor(new RegistryError(['x'])), 2);
  t.is(exitCodeFor(new CodedError('DATA_DIR_IN_USE', 'x')), 2);
  t.is(exitCodeFor(new CodedError('ARCHIVE_EMPTY', 'no batches')), 2);
  t.is(exitCodeFor(new CodedError('INVALID_CONFIGURATION', 'x')), 2);
  t.is(exitCodeFor(new CodedError('SIGNER_KEY_MISMATCH', 'x')), 2);
  t.is(exitCodeFor(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })), 2);
});
