/** The software version, from package.json: written into archive manifests and printed by --version. */
import { readFileSync } from 'node:fs';

export const SOFTWARE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
