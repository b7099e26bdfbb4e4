import type { Command } from 'commander';
import type { DataSource } from 'typeorm';
import { readPassword } from '../cli-password.js';
import { CONSOLE_PASSWORD_MIN, ConsoleAccounts, type ConsoleRole } from './console-accounts.js';
import { AuditLog } from './audit-log.js';

/**
 * `parley admin …`: console accounts (issue 8). The first admin is made here, with a password
 * from standard input (`--password-stdin`) or a prompt (never a default one), by the rule of
 * every password of the CLI (cli-password.ts). A password piped without the flag is still read,
 * with a warning, while scripts move to the flag. Changes are written to the audit log with the
 * actor `cli`.
 */
export function registerAdminCommands(program: Command, withStore: (fn: (ds: DataSource) => Promise<void>) => Promise<void>): void {
  const admin = program.command('admin').description('manage console accounts (the admin console and API; not SIP users)');
  const audit = (ds: DataSource, action: string, target: string, after?: unknown) => new AuditLog(ds).record({ actor: 'cli', source: 'local', action, target, after });
  admin
    .command('add <name>')
    .description(`create a console account; the password (at least ${CONSOLE_PASSWORD_MIN} characters) is read from standard input with --password-stdin, or asked for on a terminal`)
    .option('-r, --role <role>', 'admin (everything) or support (read only)', 'admin')
    .option('--password-stdin', 'read the password from standard input (one line)')
    .action((name: string, o: { role: string; passwordStdin?: boolean }) =>
      withStore(async (ds) => {
        const row = await new ConsoleAccounts(ds).add(name, o.role as ConsoleRole, await readPassword({ passwordStdin: o.passwordStdin, prompt: `password for ${name}: `, legacyPipe: true }));
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
    .description("set a console account's password (from standard input with --password-stdin, or a prompt); its sessions end")
    .option('--password-stdin', 'read the new password from standard input (one line)')
    .action((name: string, o: { passwordStdin?: boolean }) =>
      withStore(async (ds) => {
        await new ConsoleAccounts(ds).setPassword(name, await readPassword({ passwordStdin: o.passwordStdin, prompt: `new password for ${name}: `, legacyPipe: true }));
        await audit(ds, 'account.reset_password', name.toLowerCase());
        console.log(`password of console account ${name.toLowerCase()} set`);
      }),
    );
}
