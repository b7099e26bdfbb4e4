// Builds the native UDP socket (native/udp-gate, see udp_gate.c) into dist/native/udp_gate.node,
// with the node-gyp npm runs addons with, against the headers of the node running it. Skipped when
// the binary is newer than its sources. Without a C compiler the build is reported and skipped:
// the appliance then runs with node's own UDP socket (slower to refuse under overload; `parley
// start` says so), unless PARLEY_REQUIRE_NATIVE_UDP=1 asks for it to fail instead (CI).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'udp-gate');
const target = join(here, '..', 'dist', 'native', 'udp_gate.node');
const inputs = [join(source, 'udp_gate.c'), join(source, 'binding.gyp')];
const required = process.env.PARLEY_REQUIRE_NATIVE_UDP === '1';

if (existsSync(target) && inputs.every((f) => statSync(f).mtimeMs <= statSync(target).mtimeMs)) process.exit(0);

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

const gyp = nodeGyp();
// node's own headers where the distribution installed them (Debian and NodeSource: /usr/include/node):
// node-gyp would otherwise download them
const prefix = dirname(dirname(process.execPath));
const nodedir = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
try {
  if (gyp === null) throw new Error('node-gyp not found');
  execFileSync(process.execPath, [gyp, 'rebuild', ...nodedir], { cwd: source, stdio: ['ignore', 'ignore', 'pipe'] });
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(source, 'build', 'Release', 'udp_gate.node'), target);
} catch (err) {
  const detail = err.stderr ? String(err.stderr).trim().split('\n').slice(-5).join('\n') : err.message;
  console.error(`parley: the native UDP socket was not built (${detail})\nparley: install a C compiler (apt-get install build-essential) for it; until then UDP runs on node's socket`);
  if (required) process.exit(1);
}
