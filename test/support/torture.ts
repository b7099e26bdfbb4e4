import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The RFC 4475 and RFC 5118 corpora, copied into the repository (test/data/torture/README.md). */
export const TESTDATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../data/torture');

export interface TortureCase {
  name: string;
  file: string;
  suite: string;
  kind: 'request' | 'response';
  class: 'valid' | 'invalid';
  method: string | null;
  verdict: { accept: 'not-400' | 'any' | 'silence' | (number | string)[]; silence_ok: boolean; udp_forbidden_call_ids?: string[] };
  call_ids: string[];
  bytes: Buffer;
}

export function loadTorture(): TortureCase[] {
  const out: TortureCase[] = [];
  for (const suite of ['rfc4475', 'rfc5118']) {
    const index = JSON.parse(readFileSync(path.join(TESTDATA, suite, 'index.json'), 'utf8')) as { messages: Omit<TortureCase, 'suite' | 'bytes'>[] };
    for (const m of index.messages) out.push({ ...m, suite, bytes: readFileSync(path.join(TESTDATA, suite, m.file)) });
  }
  return out;
}

/** Whether a status code satisfies a verdict's accept list. */
export function accepts(accept: TortureCase['verdict']['accept'], status: number): boolean {
  if (accept === 'any') return true;
  if (accept === 'not-400') return status !== 400;
  if (accept === 'silence') return false;
  return accept.some((a) => (typeof a === 'number' ? a === status : Number(a[0]) === Math.floor(status / 100)));
}
