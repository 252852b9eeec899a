/**
 * The metric names a PromQL expression reads, without a PromQL parser: what is left once label
 * matchers, ranges, groupings, function calls and keywords are taken out. Histogram series
 * (`_bucket`, `_count`, `_sum`) name their histogram. Enough for the expressions of our alert rules
 * and dashboard; promtool parses them for real.
 */
const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'group_left', 'group_right']);

export function metricNamesIn(expression: string): string[] {
  const bare = expression
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g))
    if (!PROMQL_KEYWORDS.has(match[1]!)) names.add(match[1]!.replace(/_(bucket|count|sum)$/, ''));
  return [...names].sort();
}
