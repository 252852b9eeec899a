#!/usr/bin/env node
// The chainbook CLI, running the compiled build in dist/ (npm install builds it; npm run build again
// after changing the source). The source itself runs with `node --import tsx bin/chainbook.ts`.
let main;
try {
  ({ main } = await import('../dist/infra/entrypoints/cli/main.js'));
} catch (error) {
  if (
    error?.code !== 'ERR_MODULE_NOT_FOUND' ||
    !String(error.message).includes('/dist/infra/entrypoints/cli/main.js')
  ) {
    throw error;
  }
  process.stderr.write('chainbook: the compiled build is missing: run `npm run build` (npm install runs it)\n');
  process.exit(2);
}
process.exitCode = await main(process.argv);
