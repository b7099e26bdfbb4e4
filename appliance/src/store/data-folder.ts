import { closeSync, fchmodSync, mkdirSync, openSync, statSync, constants, type Stats } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';

/**
 * The files of the data folder that hold secrets, relative to it: the store (users' digest HA1
 * hashes, and a HA1 alone is enough to log in as its user, RFC 7616 §5.13), its WAL, shared-memory
 * and rollback-journal files (they hold the same pages), the AES key of stored messages (P2), and
 * the private key of the self-signed TLS pair. Only their owner may read them.
 */
export const SECRET_FILES = ['parley.sqlite', 'parley.sqlite-wal', 'parley.sqlite-shm', 'parley.sqlite-journal', 'message-store.key', 'tls/self-signed.key'];

/** Folders inside the data folder that hold secret files. */
export const PRIVATE_FOLDERS = ['tls'];

/** The data folder cannot be used safely; the message says what is wrong and the command that fixes it. */
export class DataFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataFolderError';
  }
}

interface Problem {
  file: string;
  /** what is wrong, as a clause of the message */
  what: string;
  /** the chmod that fixes a mode, or undefined when the owner is wrong */
  chmod?: '700' | '600';
}

/**
 * Makes the data folder (mode 0700) when it does not exist yet, then refuses it, with a
 * {@link DataFolderError}, when it or a secret file in it is open to group or others, or belongs
 * to another user than the one running this process (a shared folder: its owner could read or
 * swap the secrets). Both `parley start` and `parley user …` come through here, from `openStore`,
 * before SQLite opens anything.
 *
 * A folder that is too open is refused rather than fixed: its files may already have been read,
 * and the operator has to know that (and change the passwords).
 *
 * @example
 * prepareDataFolder('/var/lib/parley'); // throws DataFolderError naming `chmod 700 /var/lib/parley`
 */
export function prepareDataFolder(dataDir: string): void {
  const existing = statOrNull(dataDir);
  if (existing === null) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  else if (!existing.isDirectory()) throw new DataFolderError(`the data folder ${dataDir} is not a folder; set dataDir (or PARLEY_DATA_DIR) to a folder.`);
  // file modes and owners mean nothing to Windows' ACLs
  if (typeof process.getuid !== 'function') return;
  const problems = problemsOf(dataDir, process.getuid());
  if (problems.length > 0) throw new DataFolderError(refusal(dataDir, problems));
}

/**
 * Creates `file` empty and 0600 if it does not exist (exactly 0600: fchmod, past any umask).
 * An empty file is a valid empty SQLite database.
 */
export function createPrivateFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

/**
 * Logs a warning when a configured TLS private key (outside the data folder, the operator's to
 * manage) is readable by every local user. Group-readable is left alone: distributions give keys
 * to a group on purpose (Debian's `ssl-cert`, mode 0640).
 */
export function warnIfReadableByOthers(file: string, log: Logger): void {
  const st = statOrNull(file);
  if (st === null || (st.mode & 0o004) === 0) return;
  log.warn(
    { file, mode: modeOf(st), fix: `chmod o-rwx ${shellQuoted(file)}` },
    'the configured TLS private key is readable by every local user: any of them can impersonate this server',
  );
}

function problemsOf(dataDir: string, uid: number): Problem[] {
  const problems: Problem[] = [];
  const folder = statSync(dataDir);
  if (folder.uid !== uid) {
    // whoever owns a folder can rename and replace what is in it, whatever the files' own modes.
    // Root passes only with a folder of root's (the uids are then equal).
    problems.push({ file: dataDir, what: `${dataDir} belongs to uid ${folder.uid}, not to uid ${uid} that runs parley` });
    if ((folder.mode & 0o077) !== 0) problems.push({ file: dataDir, what: `it is mode ${modeOf(folder)}`, chmod: '700' });
    // its files may not even be ours to stat: the owner is the problem to fix first
    return problems;
  }
  check(problems, dataDir, folder, uid, '700');
  for (const name of PRIVATE_FOLDERS) {
    const dir = path.join(dataDir, name);
    const st = statOrNull(dir);
    if (st === null) continue;
    if (!st.isDirectory()) problems.push({ file: dir, what: `${dir} is not a folder (move it away)` });
    else check(problems, dir, st, uid, '700');
  }
  for (const name of SECRET_FILES) {
    const file = path.join(dataDir, name);
    const st = statOrNull(file);
    if (st !== null) check(problems, file, st, uid, '600');
  }
  return problems;
}

function check(problems: Problem[], file: string, st: Stats, uid: number, chmod: '700' | '600'): void {
  if (st.uid !== uid) problems.push({ file, what: `${file} belongs to uid ${st.uid}, not to uid ${uid} that runs parley` });
  if ((st.mode & 0o077) !== 0) problems.push({ file, what: `${file} is mode ${modeOf(st)}`, chmod });
}

/** One paragraph: what is wrong, why it matters, and the exact commands that fix it. */
function refusal(dataDir: string, problems: Problem[]): string {
  const fixes: string[] = [];
  for (const chmod of ['700', '600'] as const) {
    const files = problems.filter((p) => p.chmod === chmod).map((p) => shellQuoted(p.file));
    if (files.length > 0) fixes.push(`chmod ${chmod} ${files.join(' ')}`);
  }
  const foreign = problems.filter((p) => p.chmod === undefined);
  const modes = fixes.length > 0 ? ` Run \`${fixes.join(' && ')}\` as the owner, then run parley again.` : '';
  const owners =
    foreign.length > 0
      ? ` Run parley as the user who owns the data folder, or give it a folder of its own (dataDir, or PARLEY_DATA_DIR) that no other user can write to${foreign.some((p) => p.file !== dataDir) ? ', and give the files back to that user with chown' : ''}.`
      : '';
  return (
    `refusing to use the data folder ${dataDir}: ${problems.map((p) => p.what).join('; ')}.` +
    ' The folder holds secrets: the users\' digest hashes (each enough to log in as its user), the key of stored messages and the TLS private key, so only the user running parley may open it and its secret files (a folder mode 0700, files 0600).' +
    modes +
    owners +
    (fixes.length > 0 ? ' If other users could log in to this machine meanwhile, consider the hashes read and change the passwords.' : '')
  );
}

function statOrNull(file: string): Stats | null {
  try {
    return statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function modeOf(st: Stats): string {
  return '0' + (st.mode & 0o7777).toString(8).padStart(3, '0');
}

/** A path as one shell word, so that the command in the message can be pasted as it is. */
export function shellQuoted(p: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}
