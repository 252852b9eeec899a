/**
 * TLS and mTLS of `chainbook serve` (README, "HTTP API", "TLS and mTLS"):
 * the server's certificate and key, the CA its callers' client certificates
 * must chain to, and MTLS_ROLE_MAP, which gives a certificate's subject (its
 * CN, or a URI of its subjectAltName) a role. The files are read and checked
 * here, at start, so that a missing or mismatched file is one message naming
 * its variable, not a failure on the first connection.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ROLES, type Role } from '../../domain/actor.ts';

/** Who a verified client certificate is: the actor recorded in the chain and its role. */
export interface CertificateIdentity {
  actorId: string;
  role: Role;
}

/** MTLS_ROLE_MAP: by SAN URI (looked up first) and by subject CN. */
export interface MtlsRoleMap {
  byUri: ReadonlyMap<string, CertificateIdentity>;
  byCommonName: ReadonlyMap<string, CertificateIdentity>;
}

/**
 * `required`: a non-public route needs a verified client certificate (with a
 * bearer token or a role in MTLS_ROLE_MAP). `optional` (DEV_SKIP_MTLS=true
 * outside production): a verified certificate authenticates, none falls back
 * to bearer tokens. `off`: no client CA, bearer tokens only.
 */
export type MtlsMode = 'required' | 'optional' | 'off';

export interface TlsConfig {
  cert: Buffer;
  key: Buffer;
  /** PEM of the CA(s) client certificates must chain to; undefined: no client certificate is asked for. */
  clientCa: Buffer | undefined;
  roleMap: MtlsRoleMap;
  /** Where they were read from: read again when they change (cert-manager renews them in place). */
  files: TlsFiles;
}

/** Longest MTLS_ROLE_MAP subject (a CN is at most 64 characters; a URI longer than this is not a name). */
const MAX_SUBJECT_LENGTH = 256;
/** Most MTLS_ROLE_MAP entries: one per calling service. */
export const MAX_ROLE_MAP_ENTRIES = 1000;
/** The actor ids tokens and OIDC subjects use too (infra/wiring/httpConfig.ts). */
const ACTOR_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** The actor id recorded for a certificate subject: `mtls:<CN>`, or `mtls:<scheme>:<rest, / as :>` for a URI. */
export function certificateActorId(subject: string): string {
  return `mtls:${subject.replace('://', ':').replaceAll('/', ':')}`;
}

function pairsOf(text: string): [string, string][] | string {
  if (text.trimStart().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return 'is not valid JSON';
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return 'must be a JSON object {"<CN or URI>": "<Role>"}';
    const pairs = Object.entries(parsed);
    if (pairs.some(([, role]) => typeof role !== 'string')) return 'every value must be a role name';
    return pairs as [string, string][];
  }
  const pairs: [string, string][] = [];
  for (const part of text.split(',').map((item) => item.trim())) {
    const at = part.lastIndexOf('=');
    if (at <= 0) return `"${part.slice(0, 40)}" is not <CN or URI>=<Role>`;
    pairs.push([part.slice(0, at).trim(), part.slice(at + 1).trim()]);
  }
  return pairs;
}

/** MTLS_ROLE_MAP as `cn=Role,spiffe://…=Role` or a JSON object; a problem message when malformed. */
export function parseRoleMap(text: string): MtlsRoleMap | string {
  const pairs = pairsOf(text);
  if (typeof pairs === 'string') return pairs;
  if (pairs.length > MAX_ROLE_MAP_ENTRIES) return `has more than ${MAX_ROLE_MAP_ENTRIES} entries`;
  const byUri = new Map<string, CertificateIdentity>();
  const byCommonName = new Map<string, CertificateIdentity>();
  const actors = new Set<string>();
  for (const [subject, role] of pairs) {
    if (subject === '' || subject.length > MAX_SUBJECT_LENGTH || /[\s,]/.test(subject))
      return `"${subject.slice(0, 40)}" is not a certificate CN or URI (no spaces or commas, at most ${MAX_SUBJECT_LENGTH} characters)`;
    if (!(ROLES as readonly string[]).includes(role)) return `${subject}: "${role}" is not one of ${ROLES.join(', ')}`;
    const actorId = certificateActorId(subject);
    if (!ACTOR_ID.test(actorId)) return `${subject}: makes the actor id ${actorId}, which is not a valid actor id`;
    if (actors.has(actorId)) return `${subject}: another entry makes the same actor id ${actorId}`;
    actors.add(actorId);
    (subject.includes('://') ? byUri : byCommonName).set(subject, { actorId, role: role as Role });
  }
  return { byUri, byCommonName };
}

function readPem(path: string, variable: string, problems: string[]): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    problems.push(`${variable}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    return undefined;
  }
}

/** The certificates of a PEM bundle; a problem when there is none or one does not parse. */
function certificatesOf(pem: Buffer, variable: string, problems: string[]): X509Certificate[] {
  const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) problems.push(`${variable}: holds no PEM certificate`);
  const certificates: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      certificates.push(new X509Certificate(block));
    } catch {
      problems.push(`${variable}: holds a certificate that does not parse`);
    }
  }
  return certificates;
}

export interface TlsFiles {
  certFile: string | undefined;
  keyFile: string | undefined;
  clientCaFile: string | undefined;
  roleMap: MtlsRoleMap | undefined;
}

/** Reads and checks the files: each a PEM that parses, the key the certificate's. Undefined without TLS_CERT_FILE. */
export function loadTls(files: TlsFiles, problems: string[]): TlsConfig | undefined {
  if (files.certFile === undefined || files.keyFile === undefined) return undefined;
  const before = problems.length;
  const cert = readPem(files.certFile, 'TLS_CERT_FILE', problems);
  const key = readPem(files.keyFile, 'TLS_KEY_FILE', problems);
  const clientCa =
    files.clientCaFile === undefined ? undefined : readPem(files.clientCaFile, 'TLS_CLIENT_CA_FILE', problems);
  const leaf = cert === undefined ? undefined : certificatesOf(cert, 'TLS_CERT_FILE', problems)[0];
  if (clientCa !== undefined) certificatesOf(clientCa, 'TLS_CLIENT_CA_FILE', problems);
  if (key !== undefined && leaf !== undefined) {
    try {
      if (!leaf.checkPrivateKey(createPrivateKey(key)))
        problems.push("TLS_KEY_FILE: is not the private key of TLS_CERT_FILE's certificate");
    } catch {
      problems.push('TLS_KEY_FILE: holds no PEM private key that parses (an encrypted key is not supported)');
    }
  }
  if (problems.length > before || cert === undefined || key === undefined) return undefined;
  return {
    cert,
    key,
    clientCa,
    roleMap: files.roleMap ?? { byUri: new Map(), byCommonName: new Map() },
    files,
  };
}

/** Whether HOST only takes connections from this machine (where plain HTTP harms no one). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
