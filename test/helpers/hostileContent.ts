/**
 * Content the inspector must catch, made at run time: the repository's secret
 * scan (scripts/ci/check-no-private-keys.sh) and anti-virus scanners of a
 * checkout must not find a private key, a token or the EICAR string in it.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** The EICAR anti-virus test string (eicar.org), 68 bytes. */
export function eicar(): string {
  return ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS-', 'TEST-FILE!$H+H*'].join('');
}

/** A fresh PKCS#8 PEM private key. */
export function pemPrivateKey(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** An AWS-shaped access key id (not a real one). */
export function awsAccessKeyId(): string {
  return `AKIA${randomBytes(10).toString('hex').toUpperCase().slice(0, 16)}`;
}

/** A token in our own format (infra/entrypoints/http/auth/tokens.ts). */
export function chainbookToken(): string {
  return ['cb', randomBytes(32).toString('base64url')].join('_');
}

/** A PNG signature and a minimal IHDR: what file-type recognises as image/png. */
export function pngBytes(): Buffer {
  return Buffer.from(
    '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
    'hex',
  );
}

/** A ZIP's local file header and end of central directory: application/zip to file-type. */
export function zipBytes(): Buffer {
  const name = Buffer.from('readme.txt');
  const content = Buffer.from('hello\n');
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(20, 4);
  header.writeUInt32LE(content.length, 18);
  header.writeUInt32LE(content.length, 22);
  header.writeUInt16LE(name.length, 26);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  return Buffer.concat([header, name, content, end]);
}
