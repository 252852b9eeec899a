/**
 * `inclusion` on a served signed proof (docs/FORMAT.md section 14,
 * "Inclusion in signed proofs"): the proof file of the record it attests,
 * once a published checkpoint covers it. It is outside the signed payload, an
 * extra: when it cannot be made (the tree's tiles unreadable), the document
 * is served without it and the failure is logged.
 */
import { inclusionProofFile } from '../../../adapters/sql/treeLog.ts';
import type { HttpServices } from '../route.ts';

export async function withInclusion<T extends object>(
  services: Pick<HttpServices, 'db' | 'config' | 'logger'>,
  document: T,
  chain: string,
  seq: number,
): Promise<T | (T & { inclusion: string })> {
  let inclusion: string | undefined;
  try {
    inclusion = await inclusionProofFile(services.db, chain, seq, services.config.checkpoints.quorum);
  } catch (error) {
    services.logger.error(
      { chain, seq, err: error instanceof Error ? error.message : String(error) },
      'the inclusion proof could not be made: the proof is served without it',
    );
  }
  return inclusion === undefined ? document : { ...document, inclusion };
}
