/**
 * Certificates made with the `openssl` CLI, as an operator would make them:
 * a CA, server certificates for 127.0.0.1 and client certificates (a CN, a
 * SAN URI, expired, or from another CA). P-256 keys, valid for a day.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Issued {
  cert: string;
  key: string;
}

/** `openssl req` options for a fresh, unencrypted P-256 key. */
const NEW_P256_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** A self-signed CA in `folder`: `<name>.pem`, `<name>.key`. */
export function makeCa(folder: string, name: string): Issued {
  const cert = join(folder, `${name}.pem`);
  const key = join(folder, `${name}.key`);
  openssl(['req', '-x509', ...NEW_P256_KEY, '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`]);
  return { cert, key };
}

export interface IssueOptions {
  commonName: string;
  /** subjectAltName entries, e.g. `IP:127.0.0.1`, `URI:spiffe://…`. */
  altNames?: readonly string[];
  /** Or a config section's lines (`URI.1=a, b`): a value with a comma, which the one-line form would split. */
  altNamesSection?: readonly string[];
  /** Days of validity; -1 makes a certificate that expired a day ago. */
  days?: number;
  usage?: 'serverAuth' | 'clientAuth';
}

/** A certificate signed by `ca`, in `folder`: `<name>.pem`, `<name>.key`. */
export function issue(folder: string, ca: Issued, name: string, options: IssueOptions): Issued {
  const cert = join(folder, `${name}.pem`);
  const key = join(folder, `${name}.key`);
  const request = join(folder, `${name}.csr`);
  const extensions = join(folder, `${name}.ext`);
  openssl(['req', '-new', ...NEW_P256_KEY, '-keyout', key, '-out', request, '-subj', `/CN=${options.commonName}`]);
  const lines = [`extendedKeyUsage=${options.usage ?? 'clientAuth'}`];
  if (options.altNames && options.altNames.length > 0) lines.push(`subjectAltName=${options.altNames.join(',')}`);
  else if (options.altNamesSection) lines.push('subjectAltName=@alt_names', '[alt_names]', ...options.altNamesSection);
  writeFileSync(extensions, `${lines.join('\n')}\n`);
  openssl([
    'x509',
    '-req',
    '-in',
    request,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    String(options.days ?? 1),
    '-extfile',
    extensions,
    '-out',
    cert,
  ]);
  return { cert, key };
}

/** A server certificate for 127.0.0.1 and localhost. */
export function issueServer(folder: string, ca: Issued, name = 'server'): Issued {
  return issue(folder, ca, name, {
    commonName: 'localhost',
    altNames: ['IP:127.0.0.1', 'DNS:localhost'],
    usage: 'serverAuth',
  });
}
