/**
 * The witnesses' configuration (docs/FORMAT.md section 14, "Witnesses and
 * cosignatures"), both sides:
 *
 * - the log's: CHECKPOINT_WITNESSES, entries `<URL> <vkey>` separated by
 *   commas or newlines (the witness's submission URL and its cosignature/v1
 *   verifier key), and CHECKPOINT_WITNESS_QUORUM, how many of them must
 *   cosign a checkpoint before it is published (0 to their number, default 0);
 * - the witness's (`chainbook witness`): WITNESS_NAME, its key name;
 *   WITNESS_KEY_FILE, its Ed25519 private key (PEM); WITNESS_STATE_DIR; and
 *   WITNESS_LOGS, entries `<origin>=<vkey>` separated by commas or newlines,
 *   the logs it witnesses and their checkpoint keys.
 */
import { sha256 } from '../../chain/hash.ts';
import {
  COSIGNATURE_ED25519,
  NOTE_ECDSA_TYPE,
  NOTE_ED25519_TYPE,
  parseVerifierKey,
  type NoteVerifierKey,
} from '../../chain/cosignature.ts';

/** Witnesses a log asks (docs/STYLE.md rule 7): each is one request per checkpoint. */
export const MAX_CHECKPOINT_WITNESSES = 16;
/** Logs one witness serves from its configuration. */
export const MAX_WITNESS_LOGS = 1000;
const KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,190}$/;

export interface WitnessEndpoint {
  /** The submission prefix: `<url>/add-checkpoint` is asked. */
  url: string;
  key: NoteVerifierKey;
}

export interface WitnessServiceConfig {
  /** WITNESS_NAME; undefined when not set (`chainbook witness` refuses to start). */
  name: string | undefined;
  keyFile: string;
  stateDir: string;
  logs: ReadonlyMap<string, readonly NoteVerifierKey[]>;
}

function entries(text: string | undefined): string[] {
  return (text ?? '')
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

export function parseWitnessEndpoints(text: string | undefined): { witnesses: WitnessEndpoint[]; problems: string[] } {
  const witnesses: WitnessEndpoint[] = [];
  const problems: string[] = [];
  const list = entries(text);
  if (list.length > MAX_CHECKPOINT_WITNESSES)
    problems.push(`CHECKPOINT_WITNESSES: at most ${MAX_CHECKPOINT_WITNESSES} witnesses`);
  for (const [i, entry] of list.slice(0, MAX_CHECKPOINT_WITNESSES).entries()) {
    const [url, vkey, ...rest] = entry.split(/\s+/);
    let parsedUrl: URL | undefined;
    try {
      parsedUrl = new URL(url!);
    } catch {
      parsedUrl = undefined;
    }
    const key = vkey === undefined ? undefined : parseVerifierKey(sha256, vkey);
    if (!parsedUrl || !/^https?:$/.test(parsedUrl.protocol) || rest.length > 0)
      problems.push(`CHECKPOINT_WITNESSES: entry ${i + 1} must be "<http(s) URL> <vkey>"`);
    else if (!key || key.type !== COSIGNATURE_ED25519)
      problems.push(`CHECKPOINT_WITNESSES: entry ${i + 1}: not a cosignature/v1 Ed25519 verifier key (type 0x04)`);
    else if (witnesses.some((w) => w.key.name === key.name))
      problems.push(`CHECKPOINT_WITNESSES: entry ${i + 1}: witness ${key.name} named twice`);
    else witnesses.push({ url: url!.replace(/\/+$/, ''), key });
  }
  return { witnesses, problems };
}

export function parseQuorum(text: string | undefined, witnessCount: number): { quorum: number; problems: string[] } {
  if (text === undefined || text.trim() === '') return { quorum: 0, problems: [] };
  const quorum = Number(text);
  if (!/^\d+$/.test(text.trim()) || quorum > witnessCount)
    return {
      quorum: 0,
      problems: [`CHECKPOINT_WITNESS_QUORUM: must be an integer from 0 to the ${witnessCount} CHECKPOINT_WITNESSES`],
    };
  return { quorum, problems: [] };
}

export function parseWitnessLogs(text: string | undefined): {
  logs: Map<string, NoteVerifierKey[]>;
  problems: string[];
} {
  const logs = new Map<string, NoteVerifierKey[]>();
  const problems: string[] = [];
  const list = entries(text);
  if (list.length > MAX_WITNESS_LOGS) problems.push(`WITNESS_LOGS: at most ${MAX_WITNESS_LOGS} entries`);
  for (const [i, entry] of list.slice(0, MAX_WITNESS_LOGS).entries()) {
    // The origin has no '=' (CHECKPOINT_ORIGIN's pattern); the vkey's base64 may.
    const split = entry.indexOf('=');
    const origin = entry.slice(0, split);
    const key = split > 0 ? parseVerifierKey(sha256, entry.slice(split + 1)) : undefined;
    if (split <= 0 || !/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/.test(origin))
      problems.push(`WITNESS_LOGS: entry ${i + 1} must be "<origin>=<vkey>"`);
    else if (!key || (key.type !== NOTE_ED25519_TYPE && key.type !== NOTE_ECDSA_TYPE))
      problems.push(
        `WITNESS_LOGS: entry ${i + 1}: not an Ed25519 (type 0x01) or ECDSA P-256 (type 0x02) note verifier key`,
      );
    else logs.set(origin, [...(logs.get(origin) ?? []), key]);
  }
  return { logs, problems };
}

export function witnessNameProblems(name: string | undefined): string[] {
  return name === undefined || KEY_NAME_PATTERN.test(name)
    ? []
    : [`WITNESS_NAME: must match ${KEY_NAME_PATTERN.source} (a schema-less URL such as witness.example.com/w1)`];
}
