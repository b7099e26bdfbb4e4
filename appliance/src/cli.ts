#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig, ConfigError, type Config } from './config/config.js';
import { createLogger } from './log.js';
import { openStore } from './store/data-source.js';
import { DataFolderError } from './store/data-folder.js';
import type { DataSource } from 'typeorm';
import { UserDirectory, UserError } from './core/user-directory.js';
import { UserManagement } from './core/user-management.js';
import { ImportFormatError } from './core/user-import.js';
import { USER_NAME_RULE } from './core/user-names.js';
import { ServiceProfiles } from './core/service-profiles.js';
import { registerProfileCommand } from './core/profile-cli.js';
import { LocalDomain } from './core/local-domain.js';
import { DocumentStore } from './xdms/document-store.js';
import { DeferredStore } from './im/deferred/deferred-store.js';
import { MessageCipher } from './im/deferred/message-cipher.js';
import { AccountError } from './admin/console-accounts.js';
import { AuditLog } from './admin/audit-log.js';
import { registerAdminCommands } from './admin/admin-cli.js';
import { quotaOf, registerQuotaCommands } from './quota/quota-cli.js';
import { startAppliance } from './main.js';
import { missingServingFlags, SERVING_NODE_FLAGS, tuneHeapForServing } from './heap-tuning.js';
import { registerOpsCommands } from './ops/ops-cli.js';
import { BackupError } from './ops/backup.js';
import { registerUsageCommands } from './usage/usage-cli.js';
import { UsageError } from './usage/usage-export.js';
import { VERSION } from './version.js';
import { PasswordInputError, readPassword } from './cli-password.js';

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
    tuneHeapForServing();
    // The last resort: a failure no handler caught is a bug, and it is fatal to the work it
    // belonged to, never to the process (every other request, registration and stored message
    // goes on). Node 20 would otherwise exit on an unhandled rejection.
    process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (a bug): the work it belonged to failed; still serving'));
    process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception (a bug): the work it belonged to failed; still serving'));
    const app = await startAppliance(cfg, log);
    const missing = missingServingFlags();
    if (missing.length > 0) {
      log.warn(
        { missing, wanted: SERVING_NODE_FLAGS },
        `node was started without ${missing.join(' ')}: under heavy load the garbage collector will take more of the core; start with \`npm start\`, the systemd unit, or \`node ${SERVING_NODE_FLAGS.join(' ')} appliance/dist/cli.js start\``,
      );
    }
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

/** Runs an action against the store in the data folder (works while the server runs). */
async function withStore(fn: (ds: DataSource, cfg: Config) => Promise<void>): Promise<void> {
  const cfg = config();
  const ds = await openStore(cfg.dataDir);
  try {
    await fn(ds, cfg);
  } finally {
    await ds.destroy();
  }
}

/** Records a change made from the command line in the audit log (actor `cli`), like the API's. */
type CliAudit = (action: string, target: string | null, after?: unknown, before?: unknown) => Promise<void>;

/** Runs a user-management action: the same service as the admin API (core/user-management.ts). */
function withUsers(fn: (users: UserManagement, audit: CliAudit) => Promise<void>): Promise<void> {
  return withStore(async (ds, cfg) => {
    const documents = new DocumentStore(ds);
    const stored = new DeferredStore(ds, MessageCipher.loadOrCreate(cfg.dataDir), cfg.deferred, createLogger('warn'));
    // messages purged with a user give their bytes back in the storage ledger (H3)
    stored.account = (await quotaOf(ds, cfg)).deferred;
    const belongings = { deleteDocumentsOf: (aor: string) => documents.deleteOwner(aor), purgeStoredFor: (u: string) => stored.purgeRecipient(u) };
    const log = new AuditLog(ds);
    const audit: CliAudit = (action, target, after, before) => log.record({ actor: 'cli', source: 'local', action, target, before, after });
    const profiles = new ServiceProfiles(ds, cfg.profile);
    // the overrides in memory for reading (a one-shot command follows no changes)
    await profiles.load();
    await fn(new UserManagement(new UserDirectory(ds, cfg.domain), belongings, new LocalDomain(cfg.domain, []), profiles), audit);
  });
}

const user = program.command('user').description('manage users (SIP accounts of the domain)');
user
  .command('add <name>')
  .description(`create a user; names are ${USER_NAME_RULE}`)
  .option('-p, --password <pw>', 'password (kept only as digest hashes)')
  .option('--password-stdin', 'read the password from standard input (one line); without it and --password, a terminal asks for it')
  .option('-d, --display-name <text>', 'the name recipients see (From and P-Asserted-Identity)')
  .action((name: string, o: { password?: string; passwordStdin?: boolean; displayName?: string }) =>
    withUsers(async (u, audit) => {
      const { row } = await u.create(name, await readPassword({ ...o, prompt: `password for ${name}: ` }), o.displayName ?? null);
      await audit('user.create', row.username, { name: row.username, displayName: row.displayName, disabled: false });
      console.log(`user ${row.username} added`);
    }),
  );
user
  .command('set <name>')
  .description('change what recipients see as the user\'s name')
  .requiredOption('-d, --display-name <text>', 'the display name; "" removes it')
  .action((name: string, o: { displayName: string }) =>
    withUsers(async (u, audit) => {
      const row = await u.setDisplayName(name, o.displayName === '' ? null : o.displayName);
      await audit('user.update', row.username, { displayName: row.displayName });
      console.log(`display name of ${name.toLowerCase()} ${o.displayName === '' ? 'removed' : 'set'}`);
    }),
  );
user
  .command('import <file>')
  .description('create users from a CSV file (RFC 4180): rows "name,password" or "name,password,displayName", after an optional header row naming them (all or none)')
  .action((file: string) =>
    withUsers(async (u, audit) => {
      const out = await u.import(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''), { dryRun: false, onConflict: 'stop', generatePasswords: false, requireHeader: false, maxRows: Infinity });
      const bad = out.rows.filter((r) => r.verdict !== 'create');
      if (bad.length > 0) {
        const lines = bad.slice(0, 20).map((r) => `line ${r.line}: ${r.reason}`);
        throw new UserError(`nothing imported:\n  ${lines.join('\n  ')}${bad.length > 20 ? `\n  … and ${bad.length - 20} more` : ''}`);
      }
      await audit('user.import', null, { created: out.rows.map((r) => r.name), skipped: 0, onConflict: 'stop' });
      console.log(`${out.created} users imported`);
    }),
  );
user
  .command('list')
  .description('list users')
  .action(() =>
    withUsers(async (u) => {
      const rows = await u.users.list();
      if (rows.length === 0) console.log('no users');
      for (const r of rows) console.log(`${r.username}\t${r.disabled ? 'disabled' : 'enabled'}\t${new Date(r.createdAt).toISOString()}${r.displayName ? `\t${r.displayName}` : ''}`);
    }),
  );
user
  .command('disable <name>')
  .description('refuse the user service (registrations and messages get 403)')
  .action((name: string) => withUsers(async (u, audit) => (await audit('user.disable', (await u.setDisabled(name, true)).username), console.log(`user ${name} disabled`))));
user
  .command('enable <name>')
  .description('give a disabled user service again')
  .action((name: string) => withUsers(async (u, audit) => (await audit('user.enable', (await u.setDisabled(name, false)).username), console.log(`user ${name} enabled`))));
user
  .command('passwd <name>')
  .description("set a user's password")
  .option('-p, --password <pw>', 'new password')
  .option('--password-stdin', 'read the new password from standard input (one line); without it and --password, a terminal asks for it')
  .action((name: string, o: { password?: string; passwordStdin?: boolean }) =>
    withUsers(async (u, audit) => (await u.resetPassword(name, await readPassword({ ...o, prompt: `new password for ${name}: ` })), await audit('user.reset_password', name.toLowerCase()), console.log(`password of ${name} changed`))),
  );
user
  .command('remove <name>')
  .description('delete a user, their XCAP documents and the messages stored for them')
  .action((name: string) =>
    withUsers(async (u, audit) => {
      const { row, documents, storedMessages } = await u.remove(name);
      await audit('user.delete', row.username, { documents, storedMessages });
      console.log(`user ${row.username} removed (${documents} documents, ${storedMessages} stored messages)`);
    }),
  );

registerProfileCommand(user, withUsers);

registerAdminCommands(program, (fn) => withStore((ds) => fn(ds)));
registerQuotaCommands(program, withStore);
registerOpsCommands(program, config);
registerUsageCommands(program, withStore);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof UserError || err instanceof DataFolderError || err instanceof AccountError || err instanceof ImportFormatError || err instanceof BackupError || err instanceof UsageError || err instanceof PasswordInputError) {
    console.error(`parley: ${err.message}`);
    process.exit(2);
  }
  console.error('parley:', err);
  process.exit(1);
});
