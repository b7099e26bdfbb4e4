import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareDataFolder, createPrivateFile, DataFolderError, shellQuoted } from './data-folder.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'parley-data-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The refusal's message, or a failure when there was none. */
function refusal(dir: string): string {
  try {
    prepareDataFolder(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(DataFolderError);
    return (err as Error).message;
  }
  throw new Error(`${dir} was accepted`);
}

describe('prepareDataFolder', () => {
  it('gives a command that can be pasted as it is, for a path with a space and a quote', () => {
    const dir = path.join(root, "bob's data");
    mkdirSync(dir, { mode: 0o750 });
    chmodSync(dir, 0o750);
    writeFileSync(path.join(dir, 'parley.sqlite'), '', { mode: 0o600 });
    chmodSync(path.join(dir, 'parley.sqlite'), 0o604);
    const text = refusal(dir);
    expect(text).toContain(`${dir} is mode 0750; ${dir}/parley.sqlite is mode 0604`);
    expect(text).toContain(`\`chmod 700 '${root}/bob'\\''s data' && chmod 600 '${root}/bob'\\''s data/parley.sqlite'\``);
  });

  it('accepts a private folder with other, non-secret files in it (parley.yaml, a CSV)', () => {
    const dir = path.join(root, 'private');
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(path.join(dir, 'parley.yaml'), 'domain: x\n', { mode: 0o644 });
    expect(() => prepareDataFolder(dir)).not.toThrow();
  });

  it('makes a missing folder, and its missing parents, 0700', () => {
    const dir = path.join(root, 'a', 'b');
    prepareDataFolder(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('refuses a data folder that is a file', () => {
    const file = path.join(root, 'plain-file');
    writeFileSync(file, '');
    expect(refusal(file)).toMatch(/is not a folder/);
  });
});

describe('createPrivateFile', () => {
  it('creates exactly 0600 and leaves an existing file as it is', () => {
    const file = path.join(root, 'made');
    createPrivateFile(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileSync(file, 'kept');
    chmodSync(file, 0o640);
    createPrivateFile(file);
    expect(statSync(file).mode & 0o777).toBe(0o640);
  });
});

describe('shellQuoted', () => {
  it('leaves plain paths bare and quotes the rest', () => {
    expect(shellQuoted('/var/lib/parley')).toBe('/var/lib/parley');
    expect(shellQuoted('/srv/my data')).toBe("'/srv/my data'");
    expect(shellQuoted('/srv/$HOME')).toBe("'/srv/$HOME'");
  });
});
