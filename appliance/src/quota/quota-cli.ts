import type { Command } from 'commander';
import type { DataSource } from 'typeorm';
import type { Config } from '../config/config.js';
import { LocalDomain } from '../core/local-domain.js';
import { UserDirectory, UserError } from '../core/user-directory.js';
import { AuditLog } from '../admin/audit-log.js';
import { StorageQuota } from './storage-quota.js';
import { parseBytes } from './quota-levels.js';
import { readableBytes } from './quota-notices.js';

/** The store's quota service as the CLI uses it (no notices: the running server tells users). */
export async function quotaOf(ds: DataSource, cfg: Config): Promise<StorageQuota> {
  const q = new StorageQuota(ds, { ...cfg.quota, serviceAor: `sip:${cfg.quota.serviceUser}@${cfg.domain}`, domain: new LocalDomain(cfg.domain, []) });
  await q.load();
  return q;
}

async function existing(ds: DataSource, cfg: Config, name: string): Promise<string> {
  const wanted = name.toLowerCase();
  const row = (await new UserDirectory(ds, cfg.domain).list()).find((u) => u.username === wanted);
  if (row === undefined) throw new UserError(`no user '${name.toLowerCase()}'`, 'not_found');
  return row.username;
}

const line = (q: StorageQuota, user: string): string => {
  const u = q.usage(user);
  return `${u.user}\t${u.usedBytes}\t${u.quotaBytes}${u.override ? '' : ' (default)'}\t${u.percent}%\tconversations ${u.conversationBytes}\tdeferred ${u.deferredBytes}\twarned ${u.level}%\t(${readableBytes(u.usedBytes)} of ${readableBytes(u.quotaBytes)})`;
};

/**
 * `parley quota …` (H3): show usage, set a user's own quota or return them to the default, and
 * recount the ledger from the stored data (after a restore). Works while the server runs: it
 * notices the change (SQLite data_version) within a second. Changes are audit-logged as `cli`.
 */
export function registerQuotaCommands(program: Command, withStore: (fn: (ds: DataSource, cfg: Config) => Promise<void>) => Promise<void>): void {
  const quota = program.command('quota').description('storage quotas: usage per user (stored conversations and deferred messages), per-user quotas');
  quota
    .command('show [user]')
    .description('one user’s usage and quota, or every user with something stored or an own quota (largest first)')
    .action((name: string | undefined) =>
      withStore(async (ds, cfg) => {
        const q = await quotaOf(ds, cfg);
        const users = name === undefined ? q.known().sort((a, b) => q.usage(b).usedBytes - q.usage(a).usedBytes || a.localeCompare(b)) : [await existing(ds, cfg, name)];
        console.log(`default quota ${cfg.quota.defaultBytes} bytes (${readableBytes(cfg.quota.defaultBytes)}), warnings at ${q.levels.join(', ')}%`);
        for (const u of users) console.log(line(q, u));
      }),
    );
  quota
    .command('set <user> <bytes>')
    .description('set a user’s own quota in bytes (K, M, G suffixes are binary: 100M = 100 MiB), or "default"')
    .action((name: string, size: string) =>
      withStore(async (ds, cfg) => {
        const user = await existing(ds, cfg, name);
        const bytes = size === 'default' ? null : parseBytes(size);
        if (bytes === null && size !== 'default') throw new UserError(`'${size}' is not a size in bytes (e.g. 104857600, 100M, 2G) or "default"`);
        const q = await quotaOf(ds, cfg);
        const { before, after } = await q.setQuota(user, bytes);
        await new AuditLog(ds).record({ actor: 'cli', source: 'local', action: 'quota.set', target: user, before: { bytes: before }, after: { bytes: after } });
        console.log(line(q, user));
      }),
    );
  quota
    .command('recount [user]')
    .description('recompute the usage ledger from the stored conversations and deferred messages (after a restore)')
    .action((name: string | undefined) =>
      withStore(async (ds, cfg) => {
        const user = name === undefined ? undefined : await existing(ds, cfg, name);
        const q = await quotaOf(ds, cfg);
        const changes = await q.recount(user);
        await new AuditLog(ds).record({ actor: 'cli', source: 'local', action: 'quota.recount', target: user ?? null, after: { users: changes.length, changed: changes.filter((c) => c.before !== c.after).length } });
        for (const c of changes) console.log(`${c.user}\t${c.before} -> ${c.after}${c.before === c.after ? '' : '\t(corrected)'}`);
        if (changes.length === 0) console.log('nothing stored');
      }),
    );
}
