/**
 * Worker thread running libxml2's xmllint (xmllint-wasm) to validate documents
 * against XSDs. One WebAssembly instance serves many validations: its `main` is
 * called again for each document, with the schemas already in its in-memory file
 * system. Instantiating the module per validation cost about 7 ms whatever the
 * document (16 MiB of fresh memory, the runtime's start-up), which capped XCAP
 * writes near 100/s; a call on a live instance costs what parsing the schema and
 * validating the document cost (about 1.5 ms for a 200-entry resource list).
 *
 * xmllint keeps one piece of state between runs of `main`: its exit status only
 * ever gets worse. So the verdict is read from the line xmllint prints for the
 * file ("document.xml validates" / "fails to validate"), never from the status.
 * An instance is retired after RECYCLE_AFTER validations, and at once after a
 * run that aborted or threw, so no state of a failed run reaches the next one.
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

/** What the Emscripten factory gives back once the runtime is up (the subset we use). */
interface XmllintModule {
  FS_createDataFile(parent: string, name: string, data: Uint8Array, canRead: boolean, canWrite: boolean, canOwn: boolean): void;
  FS_unlink(path: string): void;
}

interface EmscriptenOptions {
  inputFiles: Request['files'];
  arguments: string[];
  noInitialRun: boolean;
  noExitRuntime: boolean;
  print(text: string): void;
  printErr(text: string): void;
  onExit(code: number): void;
  onAbort(reason: unknown): void;
  wasmMemory: WebAssembly.Memory;
  instantiateWasm(imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void): object;
}

/**
 * The module's exports we call, by their minified names in xmllint-wasm 5.3.0
 * (package.json pins it): `s` is main(argc, argv), `w` is memalign(alignment, size).
 */
interface XmllintExports {
  s(argc: number, argv: number): number;
  w(alignment: number, size: number): number;
}

/** A live xmllint: its runtime, its memory, the schema files and argument vectors it already holds. */
interface Instance {
  module: XmllintModule;
  exports: XmllintExports;
  memory: WebAssembly.Memory;
  /** file name -> contents already written to its file system */
  files: Map<string, string>;
  /** main schema -> argv pointer (allocated once, never freed: a handful per instance) */
  argv: Map<string, number>;
  runs: number;
}

/** Validations per instance before it is replaced (a bound on anything libxml2 might leak between runs). */
const RECYCLE_AFTER = 2000;
const DOCUMENT = 'document.xml';

const require = createRequire(import.meta.url);
// the package's Emscripten factory (it also listens for its own tagged messages, which we never send)
const createXmllint = require('xmllint-wasm/xmllint-node.js') as (options: EmscriptenOptions) => Promise<XmllintModule>;
const compiled = new WebAssembly.Module(readFileSync(require.resolve('xmllint-wasm/xmllint.wasm')));
const utf8 = new TextEncoder();

let stderr = '';
let current: Promise<Instance> | null = null;

async function start(): Promise<Instance> {
  let exports: XmllintExports | null = null;
  // 16 MiB to start, 64 MiB at most
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 1024 });
  const module = await createXmllint({
    inputFiles: [],
    arguments: [],
    // the runtime stays up after main returns: we call main ourselves, once per document
    noInitialRun: true,
    noExitRuntime: true,
    print: () => undefined,
    printErr: (t) => {
      stderr += `${t}\n`;
    },
    onExit: () => undefined,
    onAbort: (reason) => {
      stderr += `aborted: ${String(reason)}\n`;
    },
    wasmMemory: memory,
    instantiateWasm: (imports, done) => {
      void WebAssembly.instantiate(compiled, imports).then((instance) => {
        exports = instance.exports as unknown as XmllintExports;
        done(instance, compiled);
      });
      return {};
    },
  });
  return { module, exports: exports!, memory, files: new Map(), argv: new Map(), runs: 0 };
}

/** Writes a file into the instance's file system unless it already holds exactly that. */
function put(inst: Instance, name: string, contents: string): void {
  if (inst.files.get(name) === contents) return;
  if (inst.files.has(name)) inst.module.FS_unlink(`/${name}`);
  inst.module.FS_createDataFile('/', name, utf8.encode(contents), true, true, true);
  inst.files.set(name, contents);
}

/** `xmllint --noout --nonet --schema <schema> document.xml` as a C argv in the instance's memory. */
function argvFor(inst: Instance, schema: string): number {
  let argv = inst.argv.get(schema);
  if (argv !== undefined) return argv;
  const args = ['xmllint', '--noout', '--nonet', '--schema', schema, DOCUMENT];
  argv = inst.exports.w(16, 4 * (args.length + 1));
  const pointers = args.map((a) => {
    const bytes = utf8.encode(`${a}\0`);
    const p = inst.exports.w(16, bytes.length);
    new Uint8Array(inst.memory.buffer).set(bytes, p);
    return p;
  });
  const table = new Uint32Array(inst.memory.buffer, argv, args.length + 1);
  pointers.forEach((p, i) => (table[i] = p));
  table[args.length] = 0;
  inst.argv.set(schema, argv);
  return argv;
}

/** One validation: the xmllint exit codes the caller knows (0 valid, 3 invalid, anything else a failure to run). */
async function validate(msg: Request): Promise<{ code: number; stderr: string }> {
  current ??= start();
  let inst: Instance;
  try {
    inst = await current;
  } catch (err) {
    current = null;
    throw err;
  }
  stderr = '';
  let code: number;
  try {
    for (const f of msg.files.slice(1)) put(inst, f.fileName, f.contents);
    put(inst, DOCUMENT, msg.files[0].contents);
    inst.exports.s(6, argvFor(inst, msg.schema));
    const lines = stderr.split('\n');
    code = lines.includes(`${DOCUMENT} validates`) ? 0 : lines.includes(`${DOCUMENT} fails to validate`) ? 3 : -1;
  } catch (err) {
    stderr += `${String(err)}\n`;
    code = -1;
  }
  // a run that did not reach a verdict may have left libxml2 half-way: the next one gets a fresh instance
  if (code === -1 || ++inst.runs >= RECYCLE_AFTER) current = null;
  return { code, stderr };
}

let queue: Promise<void> = Promise.resolve();
parentPort!.on('message', (msg: Request & { kind?: string }) => {
  if (msg.kind !== 'parley-validate') return;
  queue = queue.then(async () => {
    const { code, stderr: text } = await validate(msg).catch((err: unknown) => ({ code: -1, stderr: String(err) }));
    parentPort!.postMessage({ kind: 'parley-validated', id: msg.id, code, stderr: text });
  });
});
