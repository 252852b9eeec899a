// Lint rules that keep the layers honest (docs/DESIGN.md, "What may import
// what"): domain imports nothing of ours; chain only domain; verifier,
// commands, projections and archive never infra; only infra touches I/O
// libraries.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

const IO_LIBRARIES = [
  'pg', '@electric-sql/pglite', 'express', 'kafkajs', 'ioredis', 'redis', 'pino', 'prom-client',
  'node:fs', 'node:fs/promises', 'fs', 'fs/promises', 'node:net', 'node:http', 'node:https', 'node:child_process',
  'node:worker_threads', 'node:os', 'node:readline', 'node:zlib',
];
const ioPaths = IO_LIBRARIES.map((name) => ({ name, message: 'I/O belongs in infra/: take an interface instead.' }));
const ioPatterns = [{ group: ['@aws-sdk/*', 'pkcs11js', '@eventstore/*'], message: 'I/O belongs in infra/.' }];

export default tseslint.config(
  { ignores: ['node_modules/**', 'scratch/**', '.chainbook/**', 'test/vectors/**/*.jsonl'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: { 'import-x/ignore': ['node_modules'] },
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', performance: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './domain', from: ['./chain', './commands', './projections', './archive', './verifier', './infra'], message: 'domain imports nothing of ours.' },
            { target: './chain', from: ['./commands', './projections', './archive', './verifier', './infra'], message: 'chain imports only domain.' },
            { target: './verifier', from: ['./commands', './projections', './infra'], message: 'verifier reads through its reader interface.' },
            { target: './archive', from: ['./commands', './projections', './infra'], message: 'archive takes interfaces; infra wires it.' },
            { target: './projections', from: ['./commands', './infra', './archive', './verifier'], message: 'projections use domain and chain only.' },
            { target: './commands', from: ['./infra', './archive', './verifier'], message: 'commands use domain, chain and projections only.' },
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
