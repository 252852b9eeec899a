/**
 * Development placeholders: the secrets of the laptop stack (deploy/compose/compose.yaml) are written
 * in the open and each contains DEV_PLACEHOLDER_MARKER, so that a copy of them that reaches production
 * is refused at start instead of protecting nothing. Names only, never values, in the message.
 */
import { ConfigError } from './config.ts';

export const DEV_PLACEHOLDER_MARKER = 'dev-only';

/** One problem per variable whose value holds the marker, with NODE_ENV=production; none otherwise. */
export function devPlaceholderProblems(env: NodeJS.ProcessEnv): string[] {
  if ((env['NODE_ENV'] ?? '').trim() !== 'production') return [];
  return Object.entries(env)
    .filter(([, value]) => value?.toLowerCase().includes(DEV_PLACEHOLDER_MARKER) === true)
    .map(([name]) => name)
    .sort()
    .map(
      (name) =>
        `${name}: a development placeholder (its value contains "${DEV_PLACEHOLDER_MARKER}"), refused when NODE_ENV=production`,
    );
}

/** `load()` (a configuration loader), refused with one ConfigError naming its problems and every placeholder. */
export function refusingPlaceholders<T>(env: NodeJS.ProcessEnv, load: () => T): T {
  const placeholders = devPlaceholderProblems(env);
  let loaded: T;
  try {
    loaded = load();
  } catch (error) {
    if (error instanceof ConfigError && placeholders.length > 0)
      throw new ConfigError([...(error.details['problems'] as string[]), ...placeholders]);
    throw error;
  }
  if (placeholders.length > 0) throw new ConfigError(placeholders);
  return loaded;
}
