/**
 * The runbooks (docs/runbooks/) and RELEASE_CHECKLIST.md point at real
 * things: every `chainbook …` command they name is a command of the CLI
 * (its `--help` answers) with the options given, every metric they name is
 * registered, every repository path and relative link exists, every
 * checklist item names a command. A renamed option or metric fails here
 * instead of in the middle of an incident.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { metricsRegistry } from '../../infra/adapters/metrics.ts';
import { ROOT } from '../helpers/build.ts';
import { runCli } from '../helpers/cli.ts';

const RUNBOOKS = join(ROOT, 'docs', 'runbooks');
const PAGES = [
  ...readdirSync(RUNBOOKS)
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(RUNBOOKS, name)),
  join(ROOT, 'RELEASE_CHECKLIST.md'),
];
/** The incidents the guides require a page for (kernel guide section 12, marketplace runbook section 14). */
const REQUIRED_PAGES = [
  'kms-hsm-unavailable.md',
  'audit-append-failures.md',
  'key-compromise.md',
  'restore-drill.md',
  'multisig-failure.md',
  'sandbox-breakout.md',
];
/** How a metric's name ends, for names written outside a page's "Metrics" section. */
const METRIC_SUFFIX = /_(total|seconds|health|records|length|count|histogram|bytes|subscribers|stopped|backlog)$/;
/** Most distinct command paths checked; a page naming more is not a runbook. */
const MAX_COMMAND_PATHS = 60;

const text = (path: string): string => readFileSync(path, 'utf8');

/** Inline code spans and the lines of fenced blocks. */
function codeOf(markdown: string): string[] {
  const fenced = [...markdown.matchAll(/^```[a-z]*\n([\s\S]*?)^```/gm)].flatMap((block) => block[1]!.split('\n'));
  const inline = [...markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/`([^`\n]+)`/g)].map((span) => span[1]!);
  return [...fenced, ...inline].map((code) => code.trim()).filter((code) => code !== '');
}

interface Invocation {
  page: string;
  words: string[];
  options: string[];
}

/** `chainbook a b --x y -s z …`: the leading lowercase words and every option. */
function invocations(page: string): Invocation[] {
  const found: Invocation[] = [];
  for (const code of codeOf(text(page))) {
    for (const match of code.matchAll(/(?:^|[\s;&|(])chainbook\s+([^;&|)#]*)/g)) {
      const tokens = match[1]!.trim().split(/\s+/);
      const words: string[] = [];
      for (const token of tokens) {
        if (!/^[a-z][a-z-]*$/.test(token)) break;
        words.push(token);
      }
      if (words.length === 0) continue;
      const options = tokens.filter((token) => /^--?[A-Za-z]/.test(token)).map((token) => token.split('=')[0]!);
      found.push({ page: relative(ROOT, page), words: words.slice(0, 2), options });
    }
  }
  return found;
}

/** The subcommands a `--help` lists under "Commands:". */
function subcommandsOf(help: string): Set<string> {
  const section = help.split(/^Commands:$/m)[1] ?? '';
  return new Set([...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((match) => match[1]!));
}

const helps = new Map<string, Promise<string | undefined>>();

function helpOf(path: readonly string[]): Promise<string | undefined> {
  const key = path.join(' ');
  let help = helps.get(key);
  if (help === undefined) {
    help = runCli([...path, '--help']).then((result) => (result.code === 0 ? result.stdout : undefined));
    helps.set(key, help);
  }
  return help;
}

test('every incident the guides require has its page, with metrics and chainbook commands', (t) => {
  for (const name of REQUIRED_PAGES) {
    const path = join(RUNBOOKS, name);
    t.true(existsSync(path), `${name} is missing`);
    const page = text(path);
    t.regex(page, /^## Metrics$/m, `${name} has a Metrics section`);
    t.true(invocations(path).length > 0, `${name} names a chainbook command`);
    t.true(text(join(RUNBOOKS, 'README.md')).includes(`(${name})`), `the index links ${name}`);
  }
});

test('every chainbook command the runbooks and the checklist name exists, with the options given', async (t) => {
  const all = PAGES.flatMap(invocations);
  t.true(all.length > 40, `found only ${all.length} commands: the parser is broken`);
  const firsts = [...new Set(all.map((invocation) => invocation.words[0]!))];
  t.true(firsts.length <= MAX_COMMAND_PATHS);
  await Promise.all(firsts.map((first) => helpOf([first])));
  const problems: string[] = [];
  for (const { page, words, options } of all) {
    const top = await helpOf([words[0]!]);
    if (top === undefined) {
      problems.push(`${page}: chainbook ${words[0]} is not a command`);
      continue;
    }
    const subcommands = subcommandsOf(top);
    let path = [words[0]!];
    if (subcommands.size > 0) {
      if (words[1] === undefined || !subcommands.has(words[1])) {
        problems.push(`${page}: chainbook ${words.join(' ')}: ${words[0]} takes one of ${[...subcommands].join(', ')}`);
        continue;
      }
      path = [words[0]!, words[1]];
    }
    const help = await helpOf(path);
    if (help === undefined) {
      problems.push(`${page}: chainbook ${path.join(' ')} --help failed`);
      continue;
    }
    for (const option of options) {
      const listed = new RegExp(`(^|[\\s,])${option.replace(/[-]/g, '\\-')}([\\s,<\\[]|$)`, 'm');
      if (!listed.test(help)) problems.push(`${page}: chainbook ${path.join(' ')} has no option ${option}`);
    }
  }
  t.deepEqual(problems, []);
});

test('every metric the runbooks and the checklist name is registered', (t) => {
  const registered = new Set(metricsRegistry.getMetricsAsArray().map((metric) => metric.name));
  t.true(registered.has('kms_errors_total'), 'the registry is read');
  const base = (name: string): string => name.replace(/_(bucket|sum|count)$/, '');
  const problems: string[] = [];
  let named = 0;
  for (const page of PAGES) {
    const markdown = text(page);
    const section = markdown.split(/^## Metrics$/m)[1]?.split(/^## /m)[0] ?? '';
    // In a Metrics section, each bullet's first code span is a metric; elsewhere, a span shaped like one.
    const bullets = [...section.matchAll(/^- `([^`]+)`/gm)].map((match) => match[1]!);
    const shaped = codeOf(markdown).filter(
      (code) => /^[a-z][a-z0-9]*(_[a-z0-9]+)+$/.test(code) && METRIC_SUFFIX.test(code),
    );
    for (const name of new Set([...bullets, ...shaped])) {
      named += 1;
      if (!registered.has(name) && !registered.has(base(name)))
        problems.push(`${relative(ROOT, page)}: ${name} is not a registered metric`);
    }
  }
  t.true(named > 20, `found only ${named} metric names: the parser is broken`);
  t.deepEqual(problems, []);
});

/** A repository path with `*` as one path segment's wildcard: some file matches. */
function pathExists(path: string): boolean {
  if (!path.includes('*')) return existsSync(join(ROOT, path));
  const folder = join(ROOT, dirname(path));
  const pattern = new RegExp(`^${path.split('/').pop()!.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`);
  return existsSync(folder) && readdirSync(folder).some((name) => pattern.test(name));
}

test('every repository path and relative link the pages name exists', (t) => {
  const problems: string[] = [];
  for (const page of PAGES) {
    const markdown = text(page);
    // kubectl names resources (deploy/chainbook-api), not files.
    for (const code of codeOf(markdown).filter((code) => !code.startsWith('kubectl ')))
      for (const token of code.split(/\s+/))
        if (/^(test|scripts|deploy|docs|infra|auditor|\.ci)\/[A-Za-z0-9._/*-]+$/.test(token) && !pathExists(token))
          problems.push(`${relative(ROOT, page)}: ${token} does not exist`);
    for (const link of markdown.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = link[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      if (!existsSync(join(dirname(page), target))) problems.push(`${relative(ROOT, page)}: link ${target} is broken`);
    }
  }
  t.deepEqual(problems, []);
});

test('every item of RELEASE_CHECKLIST.md names the command that proves it', (t) => {
  const markdown = text(join(ROOT, 'RELEASE_CHECKLIST.md'));
  // An item runs until the next item, heading or blank line.
  const items = [...markdown.matchAll(/^- \[ \] ([\s\S]*?)(?=^- \[ \]|^#|^\s*$)/gm)].map((match) => match[1]!);
  t.true(items.length >= 20, `found only ${items.length} items`);
  const command = /`(chainbook|bash|npx|curl|promtool|git|\.ci\/run|PROTECTED_BRANCH=true bash)[ `]/;
  const missing = items.filter((item) => !command.test(item)).map((item) => item.slice(0, 80));
  t.deepEqual(missing, []);
});
