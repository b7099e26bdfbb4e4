import { existsSync, readFileSync, rmSync, statSync, renameSync, mkdirSync, fchmodSync, openSync, closeSync, writeSync } from 'node:fs';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { MIGRATIONS } from '../store/data-source.js';
import { prepareDataFolder, createPrivateFile } from '../store/data-folder.js';
import { VERSION } from '../version.js';

/** A backup that cannot be made or restored, with what to do (exit status 2). */
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

/**
 * Files of the data folder that the database needs to be of use: the key that opens the stored
 * messages (AES-256-GCM, P2) and the generated TLS pair, whose fingerprint devices may have pinned.
 */
const COMPANION_FILES = ['message-store.key', 'tls/self-signed.crt', 'tls/self-signed.key'];
const DATABASE = 'parley.sqlite';

/** node-sqlite3's Backup (lib/sqlite3.js), which its typings leave out. */
interface SqliteBackup {
  readonly completed: boolean;
  readonly failed: boolean;
  retryErrors: number[];
  step(pages: number, cb: (err: Error | null) => void): void;
  finish(cb?: (err: Error | null) => void): void;
}

function open(file: string, mode: number): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, mode, (err) => (err ? reject(err) : resolve(db)));
  });
}
const run = (db: sqlite3.Database, sql: string, params: unknown[] = []): Promise<void> =>
  new Promise((resolve, reject) => db.run(sql, params, (err) => (err ? reject(err) : resolve())));
const all = <T>(db: sqlite3.Database, sql: string): Promise<T[]> => new Promise((resolve, reject) => db.all(sql, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
const close = (db: sqlite3.Database): Promise<void> => new Promise((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));

/**
 * Copies `source` into the new file `dest` with SQLite's online backup API (sqlite3_backup_*):
 * all pages in one step under one read transaction, so the copy is one consistent snapshot even
 * while the server writes (in WAL mode readers never block the writer, nor it them).
 */
async function copyDatabase(source: sqlite3.Database, dest: string): Promise<void> {
  const backup = (source as unknown as { backup(file: string): SqliteBackup }).backup(dest);
  try {
    while (!backup.completed && !backup.failed) {
      await new Promise<void>((resolve, reject) => backup.step(-1, (err) => (err ? reject(err) : resolve())));
    }
  } finally {
    await new Promise<void>((resolve) => backup.finish(() => resolve()));
  }
  if (backup.failed) throw new BackupError(`the copy of the store into ${dest} failed`);
}

/** Creates `file` empty, 0600 exactly: a backup holds the message key and every password hash. */
function createSecretFile(file: string): void {
  const fd = openSync(file, 'wx', 0o600);
  fchmodSync(fd, 0o600);
  closeSync(fd);
}

/** What `backup` wrote. */
export interface BackupSummary {
  file: string;
  migration: string;
  users: number;
  documents: number;
  storedMessages: number;
}

async function counts(db: sqlite3.Database): Promise<{ users: number; documents: number; storedMessages: number }> {
  const n = async (table: string): Promise<number> => (await all<{ n: number }>(db, `SELECT count(*) AS n FROM ${table}`))[0].n;
  return { users: await n('users'), documents: await n('xcap_documents'), storedMessages: await n('deferred_messages') };
}

/**
 * `parley backup FILE`: one SQLite file holding a consistent copy of the store, the files the
 * store needs (message key, generated TLS pair) and what made it (version, last migration).
 * Safe while the server runs. FILE must not exist yet.
 */
export async function backupDataFolder(dataDir: string, file: string): Promise<BackupSummary> {
  const database = path.join(dataDir, DATABASE);
  if (!existsSync(database)) throw new BackupError(`no store in ${dataDir} (no ${DATABASE}): check dataDir (or PARLEY_DATA_DIR)`);
  if (existsSync(file)) throw new BackupError(`${file} exists already: give a new file name`);
  const partial = `${file}.partial`;
  rmSync(partial, { force: true });
  createSecretFile(partial);
  const source = await open(database, sqlite3.OPEN_READONLY);
  try {
    await run(source, 'PRAGMA busy_timeout = 5000');
    await copyDatabase(source, partial);
  } finally {
    await close(source);
  }
  const copy = await open(partial, sqlite3.OPEN_READWRITE);
  try {
    const migrations = await all<{ name: string }>(copy, 'SELECT name FROM migrations ORDER BY timestamp');
    const migration = migrations.at(-1)?.name ?? '(none)';
    await run(copy, 'CREATE TABLE parley_backup (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    await run(copy, 'CREATE TABLE parley_backup_files (path TEXT PRIMARY KEY, content BLOB NOT NULL)');
    for (const [k, v] of [
      ['version', VERSION],
      ['migration', migration],
      ['createdAt', new Date().toISOString()],
    ])
      await run(copy, 'INSERT INTO parley_backup (key, value) VALUES (?, ?)', [k, v]);
    for (const rel of COMPANION_FILES) {
      const f = path.join(dataDir, rel);
      if (existsSync(f)) await run(copy, 'INSERT INTO parley_backup_files (path, content) VALUES (?, ?)', [rel, readFileSync(f)]);
    }
    const c = await counts(copy);
    await close(copy);
    renameSync(partial, file);
    return { file, migration, ...c };
  } catch (err) {
    await close(copy).catch(() => undefined);
    rmSync(partial, { force: true });
    throw err;
  }
}

/**
 * `parley restore FILE`: brings a backup into the data folder. Refuses a folder that already
 * holds a store unless `force` (the server must be stopped then: the store is replaced under it),
 * and a backup made by a newer Parley, whose schema this version does not know.
 * The schema is brought up to date at the next start (migrations).
 */
export async function restoreDataFolder(dataDir: string, file: string, opts: { force: boolean }): Promise<BackupSummary> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new BackupError(`no backup file ${file}`);
  const database = path.join(dataDir, DATABASE);
  if (existsSync(database) && statSync(database).size > 0 && !opts.force)
    throw new BackupError(`${dataDir} already holds a store: stop the service and add --force to replace it, or restore into an empty data folder`);
  let backup: sqlite3.Database;
  try {
    backup = await open(file, sqlite3.OPEN_READONLY);
  } catch (err) {
    throw new BackupError(`${file} is not a Parley backup: ${(err as Error).message}`);
  }
  try {
    const meta = await all<{ key: string; value: string }>(backup, 'SELECT key, value FROM parley_backup').catch(() => {
      throw new BackupError(`${file} is not a Parley backup (no parley_backup table): make one with \`parley backup FILE\``);
    });
    const migration = meta.find((m) => m.key === 'migration')?.value ?? '(none)';
    const known = new Set(MIGRATIONS.map((m) => m.name));
    const applied = await all<{ name: string }>(backup, 'SELECT name FROM migrations');
    const unknown = applied.map((a) => a.name).filter((n) => !known.has(n));
    if (unknown.length > 0) {
      const version = meta.find((m) => m.key === 'version')?.value ?? 'unknown';
      throw new BackupError(`${file} was made by Parley ${version}, whose store schema this version (${VERSION}) does not know (${unknown.join(', ')}): restore it with Parley ${version} or later`);
    }
    const integrity = await all<{ integrity_check: string }>(backup, 'PRAGMA integrity_check');
    if (integrity[0]?.integrity_check !== 'ok') throw new BackupError(`${file} is damaged: ${integrity.map((r) => r.integrity_check).join('; ')}`);
    const files = await all<{ path: string; content: Buffer }>(backup, 'SELECT path, content FROM parley_backup_files');

    prepareDataFolder(dataDir);
    const incoming = `${database}.restoring`;
    rmSync(incoming, { force: true });
    createSecretFile(incoming);
    await copyDatabase(backup, incoming);
    const copy = await open(incoming, sqlite3.OPEN_READWRITE);
    const c = await counts(copy);
    await run(copy, 'DROP TABLE parley_backup');
    await run(copy, 'DROP TABLE parley_backup_files');
    await close(copy);
    // the old store's WAL must not be replayed onto the restored one
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(database + suffix, { force: true });
    renameSync(incoming, database);
    for (const f of files) {
      const target = path.join(dataDir, f.path);
      mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
      rmSync(target, { force: true });
      createPrivateFile(target);
      const fd = openSync(target, 'w');
      writeSync(fd, f.content);
      closeSync(fd);
    }
    return { file, migration, ...c };
  } finally {
    await close(backup);
  }
}

