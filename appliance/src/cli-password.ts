import readline from 'node:readline';
import { Writable } from 'node:stream';

/** A password the command line could not get: exit code 2, with this message, nothing changed. */
export class PasswordInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PasswordInputError';
  }
}

/** Where a command takes its password from. */
export interface PasswordOptions {
  /** `--password-stdin`: one line of standard input */
  passwordStdin?: boolean;
  /** `--password PW` (the `user` commands only: a console password never goes on a command line) */
  password?: string;
  /** the hidden prompt on a terminal, e.g. "password for alice: " */
  prompt: string;
  /**
   * Deprecated (the `admin` commands only, which read a piped password without a flag before
   * session 7): a non-terminal standard input without `--password-stdin` is read all the same,
   * with a one-line warning on stderr, instead of the error.
   */
  legacyPipe?: boolean;
}

const NEED_FLAG = 'standard input is not a terminal, so there is no one to ask for the password: pass --password-stdin to read it from standard input';

/**
 * The one rule of every `parley` command that takes a password: `--password-stdin` reads one line
 * of standard input (kept out of shell history and `ps`); without it, a terminal gets a hidden
 * prompt, typed twice; a non-terminal standard input without the flag is an error (nothing is
 * created), except for `legacyPipe`. An empty password, two different ones, or more than one line
 * are errors too.
 *
 * @example
 * const pw = await readPassword({ passwordStdin: o.passwordStdin, prompt: `password for ${name}: ` });
 */
export async function readPassword(o: PasswordOptions): Promise<string> {
  if (o.password !== undefined && o.passwordStdin) throw new PasswordInputError('give either --password or --password-stdin, not both');
  if (o.password !== undefined) return nonEmpty(o.password);
  if (o.passwordStdin) return fromStdin();
  if (process.stdin.isTTY) return fromPrompt(o.prompt);
  if (!o.legacyPipe) throw new PasswordInputError(NEED_FLAG);
  process.stderr.write('parley: warning: a piped password without --password-stdin is deprecated and will be refused in a later release; pass --password-stdin\n');
  return fromStdin();
}

function nonEmpty(pw: string): string {
  if (pw === '') throw new PasswordInputError('the password is empty; nothing was changed');
  return pw;
}

/** All of standard input, one line (its line end dropped). */
async function fromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const pw = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (pw.includes('\n')) throw new PasswordInputError('the password on standard input must be one line; nothing was changed');
  return nonEmpty(pw);
}

/**
 * A hidden prompt on the terminal (written to stderr, so stdout stays the command's result), asked
 * twice. One readline interface reads both lines: typed ahead, the second is not lost.
 */
async function fromPrompt(prompt: string): Promise<string> {
  // readline echoes what is typed to its output: this one shows the prompts only
  let muted = false;
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = readline.createInterface({ input: process.stdin, output: out, terminal: true });
  // raw mode turns Ctrl-C into a readline event: end as the shell expects (128 + SIGINT)
  rl.on('SIGINT', () => {
    rl.close();
    process.stderr.write('\n');
    process.exit(130);
  });
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (q: string): Promise<string> => {
    process.stderr.write(q);
    muted = true;
    const line = await lines.next();
    muted = false;
    process.stderr.write('\n');
    if (line.done === true) throw new PasswordInputError('no password typed; nothing was changed');
    return line.value;
  };
  try {
    const first = nonEmpty(await ask(prompt));
    if ((await ask('again: ')) !== first) throw new PasswordInputError('the two passwords differ; nothing was changed');
    return first;
  } finally {
    rl.close();
  }
}
