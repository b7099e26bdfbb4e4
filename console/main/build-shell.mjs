// Builds the Electron shell into dist-shell/: the main process as ES module, the preload as
// CommonJS (a sandboxed preload cannot load ES modules), and the first-run screen's files with
// its strings from the console's locale file.
import { buildSync } from 'esbuild';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'dist-shell');
mkdirSync(out, { recursive: true });
const common = { bundle: true, platform: 'node', target: 'node22', external: ['electron'], logLevel: 'warning' };
buildSync({ ...common, entryPoints: [path.join(here, 'main.ts')], format: 'esm', outfile: path.join(out, 'main.js') });
buildSync({ ...common, entryPoints: [path.join(here, 'preload.ts')], format: 'cjs', outfile: path.join(out, 'preload.cjs') });
cpSync(path.join(here, 'first-run'), path.join(out, 'first-run'), { recursive: true });
// the first-run screen's strings, from the console's locale file (every string in one place)
const en = JSON.parse(readFileSync(path.join(here, '..', 'src', 'locales', 'en.json'), 'utf8'));
writeFileSync(path.join(out, 'first-run', 'strings.js'), `window.PARLEY_FIRST_RUN_STRINGS = ${JSON.stringify(en.desktop.firstRun, null, 2)};\n`);
console.log(`shell built into ${path.relative(process.cwd(), out) || '.'}`);
