// Bundles the command line (src/cli) into dist/ams.js: plain JavaScript for Node 20,
// so `npx ams` needs no TypeScript at run time. Runs as `prepare` (on `npm install`
// and `npm ci` in a clone) and from the e2e tests. Packages (ws, commander) stay
// imports, resolved from node_modules as runtime dependencies. See decisions/0150.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

await build({
  entryPoints: [join(root, 'src/cli/main.ts')],
  outfile: join(root, 'dist/ams.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  packages: 'external',
  banner: { js: '#!/usr/bin/env node' },
  define: { AMS_CLI_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
});
