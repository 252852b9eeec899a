/**
 * `chainbook openapi`: print the OpenAPI document of the HTTP API as YAML, or write it to a file
 * (--output). The image build writes it to /app/openapi.yaml (scripts/image/build-app.sh), the file
 * OPENAPI_PATH names and `serve` publishes at /openapi.yaml; NODE_ENV=production refuses to serve a
 * file that differs from this document (infra/entrypoints/http/openApiFile.ts).
 */
import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { openApiDocument } from '../http/openapi.ts';
import { openApiYaml } from '../http/openApiFile.ts';
import { ROUTES } from '../http/server.ts';
import { EXIT, writeOut } from './io.ts';

async function run(options: { output?: string }): Promise<number> {
  const text = openApiYaml(openApiDocument(ROUTES));
  if (options.output === undefined) {
    await writeOut(text);
    return EXIT.ok;
  }
  const path = resolve(options.output);
  // Written beside, then renamed: a reader never sees half a document.
  writeFileSync(`${path}.${process.pid}`, text, { mode: 0o644 });
  renameSync(`${path}.${process.pid}`, path);
  process.stderr.write(`chainbook openapi: wrote ${path} (${Buffer.byteLength(text)} bytes)\n`);
  return EXIT.ok;
}

export function registerOpenApi(program: Command, exit: (code: number) => void): void {
  program
    .command('openapi')
    .description(
      'print the OpenAPI document of the HTTP API as YAML, or write it to --output (the image bakes it in as /app/openapi.yaml, OPENAPI_PATH)',
    )
    .option('-o, --output <file>', 'write the document to this file instead of standard output')
    .action(async (options: { output?: string }) => exit(await run(options)));
}
