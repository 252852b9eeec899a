/**
 * The declared content type against the bytes' real type, sniffed from their
 * magic numbers by the `file-type` library. A declared type the bytes are not
 * (an "image/png" that is a ZIP, a "text/plain" that is an ELF executable) is
 * a mismatch (INSPECTION_CONTENT_TYPE_MISMATCH_TIER, default QUARANTINE).
 * `application/octet-stream` (or no type at all) declares nothing, so any real
 * type fits it: it is never a mismatch, and is labelled
 * `content-type.undeclared` beside the sniffed type's label.
 *
 * An executable (ELF, PE, Mach-O, a shared library, WebAssembly) is labelled
 * `content-type.executable` whatever was declared, and unless the declared
 * type is itself an executable type it is also `content-type.undeclared-executable`
 * with INSPECTION_EXECUTABLE_TIER (default QUARANTINE): a program shipped
 * under "bytes" or a document's type is held for a moderator; one declared as
 * a program is what the buyer asked for.
 */
import { fileTypeFromBuffer } from 'file-type';
import {
  mostSevere,
  type InspectionPlugin,
  type PluginVerdict,
  type Tier,
} from '../../../commands/content/inspector.ts';

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
/** Declared types that say "a program": an executable sniffed under one of them is declared. */
const DECLARED_EXECUTABLE_TYPES = new Set([
  ...EXECUTABLE_TYPES,
  'application/x-executable',
  'application/x-dosexec',
  'application/x-msdos-program',
  'application/x-mach-o-executable',
  'application/x-pie-executable',
]);
/** Declared types that declare nothing. */
const UNDECLARED_TYPES = new Set(['', 'application/octet-stream']);
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
  if (UNDECLARED_TYPES.has(declared)) return true;
  if (sniffed === undefined) return TEXT_TYPES.test(declared);
  // Programs have many names (x-executable, x-elf, x-dosexec): any of them fits any executable.
  if (EXECUTABLE_TYPES.has(sniffed) && DECLARED_EXECUTABLE_TYPES.has(declared)) return true;
  return sniffed === declared || (FAMILIES[declared]?.includes(sniffed) ?? false);
}

/**
 * `mismatchTier`: a declared type the bytes are not (INSPECTION_CONTENT_TYPE_MISMATCH_TIER);
 * `executableTier`: an executable not declared as one (INSPECTION_EXECUTABLE_TIER).
 */
export function contentTypePlugin(
  mismatchTier: Tier = 'QUARANTINE',
  executableTier: Tier = 'QUARANTINE',
): InspectionPlugin {
  return {
    name: 'content-type',
    appliesTo: ['artifact'],
    async inspect(input): Promise<PluginVerdict> {
      const bytes = input.bytes ?? Buffer.from(input.text ?? '', 'utf8');
      const sniffed = (await fileTypeFromBuffer(bytes.subarray(0, SNIFF_BYTES)))?.mime;
      const declared = mediaTypeOf(input.contentType);
      const labels = [`content-type.${(sniffed ?? 'unknown').replace(/[^a-z0-9.-]/g, '-')}`];
      if (UNDECLARED_TYPES.has(declared)) labels.push('content-type.undeclared');
      const tiers: Tier[] = [];
      const reasons: string[] = [];
      const executable = sniffed !== undefined && EXECUTABLE_TYPES.has(sniffed);
      if (executable) labels.push('content-type.executable');
      if (executable && !DECLARED_EXECUTABLE_TYPES.has(declared)) {
        labels.push('content-type.undeclared-executable');
        tiers.push(executableTier);
        reasons.push(`the bytes are an executable (${sniffed}) not declared as one`);
      }
      if (!fits(declared, sniffed)) {
        labels.push('content-type.mismatch');
        tiers.push(mismatchTier);
        reasons.push(`declared ${declared} but the bytes are ${sniffed ?? 'of no recognised type'}`);
      }
      if (tiers.length === 0) return { tier: 'CLEAR', labels };
      return { tier: mostSevere(tiers), labels, reason: reasons.join('; ') };
    },
  };
}
