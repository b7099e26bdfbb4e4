/**
 * Worker thread validating documents against XSDs with libxml2 (libxml2-wasm).
 * A schema is compiled once per worker and kept: xmllint-wasm, used before,
 * exposed only `main`, so every validation read and compiled the usage's XSDs
 * again (most of its ~1.4 ms per element PUT); a compiled schema validates a
 * one-element subtree in a few tens of microseconds.
 *
 * Schemas are read only from appliance/schemas, through libxml2's input
 * callbacks (an xs:import or xs:include names a file of the usage's list, or
 * nothing is read at all); the document itself is parsed without network,
 * external entities or DTD loading, and one carrying a DOCTYPE is refused
 * (the XCAP intake refuses those before, xml-intake.ts; this is the second lock).
 *
 * Every libxml2 object lives in the WebAssembly heap and is freed explicitly:
 * the document after its validation, a compiled schema (with the schema
 * document it was compiled from) when the cache is emptied.
 */
import { parentPort } from 'node:worker_threads';
import { ParseOption, XmlDocument, XmlValidateError, XsdValidator, xmlRegisterInputProvider } from 'libxml2-wasm';
import { readSchema } from './schema-files.js';
import type { ValidateReply, ValidateRequest } from './schema-validator-protocol.js';

/** A compiled schema and the schema document it came from (freed together). */
interface Compiled {
  validator: XsdValidator;
  doc: XmlDocument;
}

/**
 * Compiled schemas kept: one per usage and one per generated subtree schema
 * (subtree-schema.ts: a handful per usage). Past this the cache starts over,
 * a bound on WebAssembly memory should plans ever multiply.
 */
const MAX_COMPILED = 64;
/** No network, no external entity or DTD: the parse reads nothing but the text it is given. */
const PARSE = ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE;

const compiled = new Map<string, Compiled>();

/** The files the schema being compiled may load (its usage's list); empty otherwise, so a validation loads nothing. */
let loadable: ReadonlySet<string> = new Set();
const open = new Map<number, { bytes: Buffer; at: number }>();
let nextHandle = 1;

// Every load goes through here (match is always true): a name outside the usage's list,
// an http: location or a path fails to open rather than reaching libxml2's own I/O.
xmlRegisterInputProvider({
  match: () => true,
  open: (name) => {
    if (!loadable.has(name)) return undefined;
    let bytes: Buffer;
    try {
      bytes = Buffer.from(readSchema(name));
    } catch {
      return undefined;
    }
    const handle = nextHandle++;
    open.set(handle, { bytes, at: 0 });
    return handle;
  },
  read: (handle, buf) => {
    const f = open.get(handle);
    if (f === undefined) return -1;
    const n = Math.min(buf.byteLength, f.bytes.length - f.at);
    buf.set(f.bytes.subarray(f.at, f.at + n));
    f.at += n;
    return n;
  },
  close: (handle) => open.delete(handle),
});

/** The compiled schema for a request: the usage's first schema, or the generated one, compiled on first use. */
function schemaFor(msg: ValidateRequest): XsdValidator {
  const key = msg.main?.fileName ?? msg.schemas[0];
  const hit = compiled.get(key);
  if (hit !== undefined) return hit.validator;
  if (compiled.size >= MAX_COMPILED) clearCompiled();
  const doc = XmlDocument.fromString(msg.main?.contents ?? readSchema(key), { url: key, option: PARSE });
  loadable = new Set(msg.schemas);
  try {
    const validator = XsdValidator.fromDoc(doc);
    compiled.set(key, { validator, doc });
    return validator;
  } catch (err) {
    doc.dispose();
    throw err;
  } finally {
    loadable = new Set();
  }
}

function clearCompiled(): void {
  for (const c of compiled.values()) {
    c.validator.dispose();
    c.doc.dispose();
  }
  compiled.clear();
}

/**
 * One validation. The messages keep the form clients saw from xmllint
 * ("Schemas validity error : Element '{ns}name': …"), which error bodies carry.
 */
function validate(msg: ValidateRequest): ValidateReply {
  if (/<!DOCTYPE|<!ENTITY/i.test(msg.xml)) return { kind: 'parley-validated', id: msg.id, failure: 'document type and entity declarations are not allowed' };
  let validator: XsdValidator;
  try {
    validator = schemaFor(msg);
  } catch (err) {
    return { kind: 'parley-validated', id: msg.id, failure: `the schema does not compile: ${describe(err)}` };
  }
  let doc: XmlDocument;
  try {
    doc = XmlDocument.fromString(msg.xml, { option: PARSE });
  } catch (err) {
    return { kind: 'parley-validated', id: msg.id, failure: `the document is not well-formed: ${describe(err)}` };
  }
  try {
    validator.validate(doc);
    return { kind: 'parley-validated', id: msg.id, valid: true, errors: [] };
  } catch (err) {
    if (err instanceof XmlValidateError) {
      const errors = err.details.filter((d) => d.level >= 2).map((d) => `Schemas validity error : ${d.message.trim()}`);
      return { kind: 'parley-validated', id: msg.id, valid: false, errors };
    }
    // an internal error: whatever libxml2 kept may be half-way, so compile afresh next time
    clearCompiled();
    return { kind: 'parley-validated', id: msg.id, failure: describe(err) };
  } finally {
    doc.dispose();
  }
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err)).trim().slice(0, 300);

parentPort!.on('message', (msg: ValidateRequest) => {
  if (msg.kind !== 'parley-validate') return;
  parentPort!.postMessage(validate(msg));
});
