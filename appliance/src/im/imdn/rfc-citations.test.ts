import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/**
 * The section numbers of the two RFCs the IMDN code cites, as the RFC texts number them
 * (RFC 5438 February 2009, RFC 3862 August 2004), including sub-sections the tables of contents
 * leave out (RFC 5438 §7.1.1.1–3, §7.2.1.1–2, §12.1.3.1–3).
 */
const SECTIONS: Record<string, string[]> = {
  '5438': '1 2 3 4 5 5.1 5.2 5.3 6 6.1 6.2 6.3 6.4 6.5 6.6 7 7.1 7.1.1 7.1.1.1 7.1.1.2 7.1.1.3 7.1.2 7.1.3 7.1.4 7.2 7.2.1 7.2.1.1 7.2.1.2 8 8.1 8.2 8.3 9 10 11 11.1 11.1.1 11.1.2 11.1.3 11.1.4 11.1.5 11.1.6 11.1.7 11.1.8 11.1.9 12 12.1 12.1.1 12.1.2 12.1.3 12.1.3.1 12.1.3.2 12.1.3.3 12.2 13 14 14.1 14.2 14.3 15 15.1 15.2 15.3 15.4 16 17 17.1 17.2'.split(' '),
  '3862': '1 1.1 1.2 1.3 1.4 2 2.1 2.2 2.3 2.3.1 2.4 3 3.1 3.2 3.3 3.4 3.5 3.6 4 4.1 4.2 4.3 4.4 4.5 4.6 4.7 5 5.1 5.2 6 7 7.1 7.2 8 9 10 11 11.1 11.2 12 13'.split(' '),
};

const SCANNED = ['appliance/src', 'shared/src', 'console/src', 'test', 'docs', 'README.md'];

function* files(p: string): Generator<string> {
  const full = path.join(ROOT, p);
  if (statSync(full).isFile()) {
    yield full;
    return;
  }
  for (const e of readdirSync(full, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    if (e.isDirectory()) yield* files(path.join(p, e.name));
    else if (/\.(ts|vue|md)$/.test(e.name)) yield path.join(full, e.name);
  }
}

/** Every `RFC 5438 §x` / `RFC 3862 §x` (and the `, §y` / `and §y` that follow it) in our sources. */
function citations(): { file: string; rfc: string; section: string }[] {
  const out: { file: string; rfc: string; section: string }[] = [];
  for (const root of SCANNED) {
    for (const file of files(root)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/RFC\s+(5438|3862)\s+§(\d+(?:\.\d+)*)((?:(?:,\s*|\s+and\s+)§\d+(?:\.\d+)*)*)/g)) {
        for (const s of [m[2], ...[...m[3].matchAll(/§(\d+(?:\.\d+)*)/g)].map((x) => x[1])]) out.push({ file: path.relative(ROOT, file), rfc: m[1], section: s });
      }
    }
  }
  return out;
}

describe('RFC 5438 and RFC 3862 section numbers in comments and docs', () => {
  it('name sections that exist in those RFCs (once written from memory: §11.4, §11.5, §11.9, §11.10 did not exist)', () => {
    const found = citations();
    expect(found.length).toBeGreaterThan(40);
    expect(found.filter((c) => !SECTIONS[c.rfc].includes(c.section))).toEqual([]);
  });
});
