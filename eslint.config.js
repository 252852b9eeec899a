// Lint rules that keep the layers honest (docs/DESIGN.md, "What may import
// what"). ALLOWED below is the map of arrows between folders: a folder may
// import itself and the folders it lists, nothing else of ours. Only infra/
// touches I/O libraries.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

const IO_LIBRARIES = [
  'pg',
  '@electric-sql/pglite',
  'express',
  'kafkajs',
  'ioredis',
  'redis',
  'pino',
  'prom-client',
  'node:fs',
  'node:fs/promises',
  'fs',
  'fs/promises',
  'node:net',
  'node:http',
  'node:https',
  'node:child_process',
  'node:worker_threads',
  'node:os',
  'node:readline',
  'node:zlib',
  'tar',
];
const ioPaths = IO_LIBRARIES.map((name) => ({ name, message: 'I/O belongs in infra/: take an interface instead.' }));
const ioPatterns = [
  { group: ['@aws-sdk/*', 'pkcs11js', '@eventstore/*', '@kurrent/*'], message: 'I/O belongs in infra/.' },
];

/** Folder → the folders it may import from. Everything not listed is refused, in both directions. */
const ALLOWED = {
  domain: [],
  chain: ['domain'],
  verifier: ['domain', 'chain'],
  projections: ['domain', 'chain', 'verifier'],
  commands: ['domain', 'chain', 'projections'],
  archive: ['domain', 'chain', 'verifier'],
  'infra/adapters': ['domain', 'chain', 'verifier', 'projections', 'commands', 'archive'],
  'infra/wiring': ['domain', 'chain', 'verifier', 'projections', 'commands', 'archive', 'infra/adapters'],
  'infra/entrypoints': [
    'domain',
    'chain',
    'verifier',
    'projections',
    'commands',
    'archive',
    'infra/adapters',
    'infra/wiring',
  ],
};

function restrictedZones() {
  const folders = Object.keys(ALLOWED);
  const zones = folders.map((target) => {
    const allowed = ALLOWED[target];
    const from = folders.filter(
      (other) => other !== target && !allowed.includes(other) && !target.startsWith(`${other}/`),
    );
    const message =
      allowed.length === 0 ? `${target} imports nothing of ours.` : `${target} imports only ${allowed.join(', ')}.`;
    return { target: `./${target}`, from: from.map((folder) => `./${folder}`), message };
  });
  return zones.filter((zone) => zone.from.length > 0);
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'scratch/**', '.chainbook/**', 'test/vectors/**/*.jsonl'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: { 'import-x/ignore': ['node_modules'] },
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: restrictedZones() }],
    },
  },
  {
    // The auditor's checker and page run in a browser as they are (docs/FORMAT.md section 15): browser globals, no imports but each other.
    files: ['auditor/**/*.mjs'],
    languageOptions: {
      globals: {
        crypto: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        Blob: 'readonly',
        DecompressionStream: 'readonly',
        atob: 'readonly',
        btoa: 'readonly',
        DataView: 'readonly',
        document: 'readonly',
        window: 'readonly',
        fetch: 'readonly',
        URL: 'readonly',
        File: 'readonly',
        Response: 'readonly',
        requestAnimationFrame: 'readonly',
        URLSearchParams: 'readonly',
      },
    },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', '../*'], message: 'The checker runs in a browser: no Node module, nothing of ours.' },
          ],
        },
      ],
    },
  },
  {
    files: ['domain/**', 'chain/**', 'commands/**', 'projections/**', 'verifier/**', 'archive/**'],
    rules: { 'no-restricted-imports': ['error', { paths: ioPaths, patterns: ioPatterns }] },
  },
);
