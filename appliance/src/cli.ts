#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig, ConfigError, type Config } from './config/config.js';
import { createLogger } from './log.js';
import { openStore } from './store/data-source.js';
import { DataFolderError } from './store/data-folder.js';
import { UserDirectory, UserError } from './core/user-directory.js';
import { USER_NAME_RULE } from './core/user-names.js';
import { startAppliance } from './main.js';
import { VERSION } from './version.js';

const program = new Command();
program.name('parley').description('Parley SIP/SIMPLE instant-messaging appliance').version(VERSION).option('-c, --config <file>', 'config file (YAML or JSON)');

function config(): Config {
  return loadConfig(program.opts<{ config?: string }>().config);
}

program
  .command('start')
  .description('start the appliance (SIP core, registrar, IM server)')
  .option('-c, --config <file>', 'config file (YAML or JSON)')
  .action(async (opts: { config?: string }) => {
    const cfg = loadConfig(opts.config ?? program.opts<{ config?: string }>().config);
    const log = createLogger(cfg.log.level);
    // The last resort: a failure no handler caught is a bug, and it is fatal to the work it
    // belonged to, never to the process (every other request, registration and stored message
    // goes on). Node 20 would otherwise exit on an unhandled rejection.
    process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (a bug): the work it belonged to failed; still serving'));
    process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception (a bug): the work it belonged to failed; still serving'));
    const app = await startAppliance(cfg, log);
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'parley stopping');
      app.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });

/** Runs a user-management action against the data folder (works while the server runs). */
async function withUsers(fn: (users: UserDirectory) => Promise<void>): Promise<void> {
  const cfg = config();
  const ds = await openStore(cfg.dataDir);
  try {
    await fn(new UserDirectory(ds, cfg.domain));
  } finally {
    await ds.destroy();
  }
}

/** The password from --password, or read from standard input with --password-stdin (kept out of shell history and ps). */
async function passwordOf(o: { password?: string; passwordStdin?: boolean }): Promise<string> {
  if (o.password !== undefined && o.passwordStdin) throw new UserError('give either --password or --password-stdin, not both');
  if (o.password !== undefined) return o.password;
  if (!o.passwordStdin) throw new UserError('a password is needed: --password PW, or --password-stdin');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const pw = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (pw.includes('\n')) throw new UserError('--password-stdin takes one line');
  return pw;
}

const user = program.command('user').description('manage users (SIP accounts of the domain)');
user
  .command('add <name>')
  .description(`create a user; names are ${USER_NAME_RULE}`)
  .option('-p, --password <pw>', 'password (kept only as digest hashes)')
  .option('--password-stdin', 'read the password from standard input')
  .option('-d, --display-name <text>', 'the name recipients see (From and P-Asserted-Identity)')
  .action((name: string, o: { password?: string; passwordStdin?: boolean; displayName?: string }) =>
    withUsers(async (u) => {
      const row = await u.add(name, await passwordOf(o), o.displayName ?? null);
      console.log(`user ${row.username} added`);
    }),
  );
user
  .command('set <name>')
  .description('change what recipients see as the user\'s name')
  .requiredOption('-d, --display-name <text>', 'the display name; "" removes it')
  .action((name: string, o: { displayName: string }) =>
    withUsers(async (u) => {
      await u.setDisplayName(name, o.displayName === '' ? null : o.displayName);
      console.log(`display name of ${name.toLowerCase()} ${o.displayName === '' ? 'removed' : 'set'}`);
    }),
  );
user
  .command('import <file>')
  .description('create users from a CSV file of "name,password" lines, or "name,password,display name" after that header line (all or none)')
  .action((file: string) =>
    withUsers(async (u) => {
      const lines = readFileSync(file, 'utf8')
        .split(/\r?\n/)
        .map((text, i) => ({ text: text.trim(), line: i + 1 }))
        .filter((l) => l.text.length > 0 && !l.text.startsWith('#'));
      // a password may hold commas: it is everything after the name, or up to the display name
      // when the header line announces that third column
      const withDisplay = lines.length > 0 && /^name\s*,\s*password\s*,\s*display name$/i.test(lines[0].text);
      if (withDisplay || (lines.length > 0 && /^name\s*,\s*password$/i.test(lines[0].text))) lines.shift();
      const entries = lines.map(({ text, line }) => {
        const first = text.indexOf(',');
        const last = text.lastIndexOf(',');
        if (first < 0) return { username: text, password: '', line };
        if (!withDisplay || last === first) return { username: text.slice(0, first).trim(), password: text.slice(first + 1), line };
        return { username: text.slice(0, first).trim(), password: text.slice(first + 1, last), displayName: text.slice(last + 1).trim() || null, line };
      });
      console.log(`${await u.addMany(entries)} users imported`);
    }),
  );
user
  .command('list')
  .description('list users')
  .action(() =>
    withUsers(async (u) => {
      const rows = await u.list();
      if (rows.length === 0) console.log('no users');
      for (const r of rows) console.log(`${r.username}\t${r.disabled ? 'disabled' : 'enabled'}\t${new Date(r.createdAt).toISOString()}${r.displayName ? `\t${r.displayName}` : ''}`);
    }),
  );
user
  .command('disable <name>')
  .description('refuse the user service (registrations and messages get 403)')
  .action((name: string) => withUsers(async (u) => (await u.setDisabled(name, true), console.log(`user ${name} disabled`))));
user
  .command('enable <name>')
  .description('give a disabled user service again')
  .action((name: string) => withUsers(async (u) => (await u.setDisabled(name, false), console.log(`user ${name} enabled`))));
user
  .command('passwd <name>')
  .description("set a user's password")
  .option('-p, --password <pw>', 'new password')
  .option('--password-stdin', 'read the new password from standard input')
  .action((name: string, o: { password?: string; passwordStdin?: boolean }) =>
    withUsers(async (u) => (await u.setPassword(name, await passwordOf(o)), console.log(`password of ${name} changed`))),
  );
user
  .command('remove <name>')
  .description('delete a user')
  .action((name: string) => withUsers(async (u) => (await u.remove(name), console.log(`user ${name} removed`))));

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof UserError || err instanceof DataFolderError) {
    console.error(`parley: ${err.message}`);
    process.exit(2);
  }
  console.error('parley:', err);
  process.exit(1);
});
