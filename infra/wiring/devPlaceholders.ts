/**
 * Development placeholders: the secrets of the laptop stack (deploy/compose/compose.yaml) are written
 * in the open and each contains DEV_PLACEHOLDER_MARKER, so that a copy of them that reaches production
 * is refused at start instead of protecting nothing. Names only, never values, in the message.
 */
export const DEV_PLACEHOLDER_MARKER = 'dev-only';

/** One problem per variable whose value holds the marker, with NODE_ENV=production; none otherwise. */
export function devPlaceholderProblems(env: NodeJS.ProcessEnv, production: boolean): string[] {
  if (!production) return [];
  return Object.entries(env)
    .filter(([, value]) => value?.toLowerCase().includes(DEV_PLACEHOLDER_MARKER) === true)
    .map(([name]) => name)
    .sort()
    .map(
      (name) =>
        `${name}: a development placeholder (its value contains "${DEV_PLACEHOLDER_MARKER}"), refused when NODE_ENV=production`,
    );
}
