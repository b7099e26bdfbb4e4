/**
 * Worker thread running libxml2's xmllint (xmllint-wasm) to validate documents
 * against XSDs. The WebAssembly module is compiled once and instantiated per
 * validation (about 10 ms), instead of a new worker and compile per call
 * (about 200 ms) as the package's own API does.
 */
import { parentPort } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

interface Request {
  id: number;
  /** the main schema's file name, then every file (document first) */
  schema: string;
  files: { fileName: string; contents: string }[];
}

interface EmscriptenOptions {
  inputFiles: Request['files'];
  arguments: string[];
  print(text: string): void;
  printErr(text: string): void;
  onExit(code: number): void;
  onAbort(reason: unknown): void;
  wasmMemory: WebAssembly.Memory;
  instantiateWasm(imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void): object;
}

const require = createRequire(import.meta.url);
// the package's Emscripten factory (it also listens for its own tagged messages, which we never send)
const runXmllint = require('xmllint-wasm/xmllint-node.js') as (options: EmscriptenOptions) => Promise<unknown>;
const compiled = new WebAssembly.Module(readFileSync(require.resolve('xmllint-wasm/xmllint.wasm')));

parentPort!.on('message', (msg: Request & { kind?: string }) => {
  if (msg.kind !== 'parley-validate') return;
  let stderr = '';
  const reply = (code: number): void => parentPort!.postMessage({ kind: 'parley-validated', id: msg.id, code, stderr });
  void runXmllint({
    inputFiles: msg.files,
    arguments: ['--noout', '--nonet', '--schema', msg.schema, msg.files[0].fileName],
    print: () => undefined,
    printErr: (t) => {
      stderr += `${t}\n`;
    },
    onExit: reply,
    onAbort: (reason) => {
      stderr += `aborted: ${String(reason)}\n`;
      reply(-1);
    },
    // 16 MiB to start, 64 MiB at most per validation
    wasmMemory: new WebAssembly.Memory({ initial: 256, maximum: 1024 }),
    instantiateWasm: (imports, done) => {
      void WebAssembly.instantiate(compiled, imports).then((instance) => done(instance, compiled));
      return {};
    },
  }).catch((err: unknown) => {
    stderr += String(err);
    reply(-1);
  });
});
