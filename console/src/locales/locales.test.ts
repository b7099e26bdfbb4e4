import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import en from './en.json';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.(vue|ts)$/.test(e.name) && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const has = (key: string): boolean => key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], en) !== undefined;
const TOP = Object.keys(en).join('|');

describe('the English locale file', () => {
  const files = sources(SRC).map((f) => ({ f: path.relative(SRC, f), text: readFileSync(f, 'utf8') }));

  it('has every key the console names', () => {
    const missing: string[] = [];
    for (const { f, text } of files) {
      for (const m of text.matchAll(new RegExp(`'((?:${TOP})\\.[a-zA-Z.]+)'`, 'g'))) if (!has(m[1])) missing.push(`${f}: ${m[1]}`);
    }
    expect(missing).toEqual([]);
  });

  it('has every key the console builds from a value (roles, visibilities, import verdicts)', () => {
    for (const k of ['roles.admin', 'roles.support', 'groups.public', 'groups.private', 'import.verdicts.create', 'import.verdicts.conflict', 'import.verdicts.invalid']) expect(has(k), k).toBe(true);
  });

  it('is where every text of the templates comes from (no words written into a template)', () => {
    const bare: string[] = [];
    for (const { f, text } of files.filter((x) => x.f.endsWith('.vue'))) {
      const template = text.slice(text.indexOf('<template>'), text.lastIndexOf('</template>')).replace(/\{\{[\s\S]*?\}\}/g, '');
      for (const m of template.matchAll(/>([^<>]*)</g)) if (/[A-Za-z]/.test(m[1].replace(/&[a-z]+;/g, ''))) bare.push(`${f}: ${m[1].trim()}`);
      for (const m of template.matchAll(/\s(placeholder|aria-label|title|label|alt|active-text|inactive-text)="([^"]*)"/g)) bare.push(`${f}: ${m[1]}="${m[2]}"`);
    }
    expect(bare).toEqual([]);
  });
});
