import readline from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import type { DataSource } from 'typeorm';
import { AccountError, CONSOLE_PASSWORD_MIN, ConsoleAccounts, type ConsoleRole } from './console-accounts.js';
import { AuditLog } from './audit-log.js';

/** Reads a password: all of standard input when it is not a terminal (scripts, tests), else a hidden prompt, twice. */
async function readPassword(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const pw = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    if (pw.includes('\n')) throw new AccountError('the password on standard input must be one line');
    return pw;
  }
  const ask = (q: string): Promise<string> =>
    new Promise((resolve) => {
      let muted = false;
      const out = new Writable({
        write(chunk: Buffer, _enc, done) {
          if (!muted) process.stderr.write(chunk);
          done();
        },
      });
      const rl = readline.createInterface({ input: process.stdin, output: out, terminal: true });
      rl.question(q, (answer) => {
        rl.close();
        process.stderr.write('\n');
        resolve(answer);
      });
      muted = true;
    });
  const first = await ask(prompt);
  if ((await ask('again: ')) !== first) throw new AccountError('the two passwords differ');
  return first;
}

/**
 * `parley admin …`: console accounts (issue 8). The first admin is made here, with a password
 * from standard input or a prompt (never a default one). Changes are written to the audit log
 * with the actor `cli`.
 */
export function registerAdminCommands(program: Command, withStore: (fn: (ds: DataSource) => Promise<void>) => Promise<void>): void {
  const admin = program.command('admin').description('manage console accounts (the admin console and API; not SIP users)');
  const audit = (ds: DataSource, action: string, target: string, after?: unknown) => new AuditLog(ds).record({ actor: 'cli', source: 'local', action, target, after });
  admin
    .command('add <name>')
    .description(`create a console account; the password (at least ${CONSOLE_PASSWORD_MIN} characters) is read from standard input, or asked for on a terminal`)
    .option('-r, --role <role>', 'admin (everything) or support (read only)', 'admin')
    .action((name: string, o: { role: string }) =>
      withStore(async (ds) => {
        const row = await new ConsoleAccounts(ds).add(name, o.role as ConsoleRole, await readPassword(`password for ${name}: `));
        await audit(ds, 'account.create', row.name, { role: row.role });
        console.log(`console account ${row.name} (${row.role}) added`);
      }),
    );
  admin
    .command('list')
    .description('list console accounts')
    .action(() =>
      withStore(async (ds) => {
        const rows = await new ConsoleAccounts(ds).list();
        if (rows.length === 0) console.log('no console accounts');
        for (const r of rows) console.log(`${r.name}\t${r.role}\t${r.disabled ? 'disabled' : 'enabled'}\t${new Date(r.createdAt).toISOString()}`);
      }),
    );
  for (const [cmd, disabled] of [['disable', true], ['enable', false]] as const) {
    admin
      .command(`${cmd} <name>`)
      .description(disabled ? 'refuse a console account (its sessions end at once)' : 'allow a disabled console account again')
      .action((name: string) =>
        withStore(async (ds) => {
          await new ConsoleAccounts(ds).setDisabled(name, disabled);
          await audit(ds, `account.${cmd}`, name.toLowerCase());
          console.log(`console account ${name.toLowerCase()} ${cmd}d`);
        }),
      );
  }
  admin
    .command('reset <name>')
    .description("set a console account's password (from standard input or a prompt); its sessions end")
    .action((name: string) =>
      withStore(async (ds) => {
        await new ConsoleAccounts(ds).setPassword(name, await readPassword(`new password for ${name}: `));
        await audit(ds, 'account.reset_password', name.toLowerCase());
        console.log(`password of console account ${name.toLowerCase()} set`);
      }),
    );
}
