#!/usr/bin/env -S node --max-semi-space-size=64
// The `parley` command. In a source checkout it first brings appliance/dist up to date with an
// incremental `tsc -b` (under a second when nothing changed), so `npx parley …` works right after
// `npm install` and never runs code older than the source. A packaged install has dist/ only.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const applianceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(applianceDir, 'dist', 'cli.js');

if (existsSync(path.join(applianceDir, 'src')) && existsSync(path.join(applianceDir, 'tsconfig.json'))) {
  let tsc = null;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    // no TypeScript (a production install): use dist/ as it is
  }
  if (tsc !== null) {
    // compiler output goes to stderr, so the command's own output stays clean for scripts
    // the whole checkout's build order (shared schemas, then the appliance) when it is there
    const order = path.join(applianceDir, '..', 'tsconfig.build.json');
    const built = spawnSync(process.execPath, [tsc, '-b', existsSync(order) ? order : applianceDir], { stdio: ['ignore', 2, 2] });
    if (built.status !== 0) {
      console.error('parley: building the appliance failed (compiler errors above)');
      process.exit(1);
    }
  }
}
if (!existsSync(cli)) {
  console.error(`parley: ${cli} is missing: run "npm run build" in the project folder first`);
  process.exit(1);
}
await import(pathToFileURL(cli).href);
