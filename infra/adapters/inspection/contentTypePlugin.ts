/**
 * The declared content type against the bytes' real type, sniffed from their
 * magic numbers by the `file-type` library. A declared type the bytes are not
 * (an "image/png" that is a ZIP, a "text/plain" that is an ELF executable) is
 * a mismatch (INSPECTION_CONTENT_TYPE_MISMATCH_TIER, default QUARANTINE); an
 * executable is labelled whatever was declared. `application/octet-stream`
 * declares nothing, so any real type fits it.
 */
import { fileTypeFromBuffer } from 'file-type';
import type { InspectionPlugin, PluginVerdict, Tier } from '../../../commands/content/inspector.ts';

/** Bytes the sniffer reads: file-type needs at most a few kilobytes, some formats a little more. */
export const SNIFF_BYTES = 64 * 1024;

const EXECUTABLE_TYPES = new Set([
  'application/x-msdownload',
  'application/x-elf',
  'application/x-mach-binary',
  'application/vnd.microsoft.portable-executable',
  'application/x-sharedlib',
  'application/wasm',
]);
/** Declared types whose bytes file-type cannot tell apart from plain bytes: a sniffed "nothing" fits them. */
const TEXT_TYPES = /^(text\/[a-z0-9.+-]+|application\/(json|xml|javascript|x-ndjson|yaml))$/;
/** Types that are containers of others: a declared ZIP that sniffs as a JAR or EPUB still fits. */
const FAMILIES: Readonly<Record<string, readonly string[]>> = {
  'application/zip': [
    'application/java-archive',
    'application/epub+zip',
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    'application/vnd.android.package-archive',
  ],
};

function mediaTypeOf(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

function fits(declared: string, sniffed: string | undefined): boolean {
  if (declared === 'application/octet-stream') return true;
  if (sniffed === undefined) return TEXT_TYPES.test(declared);
  return sniffed === declared || (FAMILIES[declared]?.includes(sniffed) ?? false);
}

export function contentTypePlugin(mismatchTier: Tier = 'QUARANTINE'): InspectionPlugin {
  return {
    name: 'content-type',
    appliesTo: ['artifact'],
    async inspect(input): Promise<PluginVerdict> {
      const bytes = input.bytes ?? Buffer.from(input.text ?? '', 'utf8');
      const sniffed = (await fileTypeFromBuffer(bytes.subarray(0, SNIFF_BYTES)))?.mime;
      const declared = mediaTypeOf(input.contentType);
      const labels = [`content-type.${(sniffed ?? 'unknown').replace(/[^a-z0-9.-]/g, '-')}`];
      const executable = sniffed !== undefined && EXECUTABLE_TYPES.has(sniffed);
      if (executable) labels.push('content-type.executable');
      if (fits(declared, sniffed)) return { tier: 'CLEAR', labels };
      labels.push('content-type.mismatch');
      return {
        tier: mismatchTier,
        labels,
        reason: `declared ${declared} but the bytes are ${sniffed ?? 'of no recognised type'}`,
      };
    },
  };
}
