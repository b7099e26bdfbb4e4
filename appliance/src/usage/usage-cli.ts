import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { DataSource } from 'typeorm';
import type { Config } from '../config/config.js';
import { UsageError, usageFormat, usageQuery, usageStream } from './usage-export.js';

/**
 * `parley usage export`: the usage records (C5) of a time range as CSV or JSON Lines, on standard
 * output or into a new file. Reads the store beside the running server (WAL: the server's writes go
 * on, and each page is read from one consistent snapshot). Bad options exit 2 with the reason.
 */
export function registerUsageCommands(program: Command, withStore: (fn: (ds: DataSource, cfg: Config) => Promise<void>) => Promise<void>): void {
  const usage = program.command('usage').description('usage (charging) records: messages, sessions, room memberships, storage');
  usage
    .command('export')
    .description('export the usage records of a time range; --to is exclusive (--from 2026-11-01 --to 2026-12-01 is November, UTC)')
    .option('--from <date>', 'first instant included: YYYY-MM-DD (midnight UTC) or ISO 8601 (2026-11-01T08:00:00Z)')
    .option('--to <date>', 'first instant NOT included, same forms')
    .option('--format <format>', 'csv (RFC 4180, header row) or json (JSON Lines: one record per line)', 'csv')
    .option('--user <user>', 'only the records naming this user (a name, or a sip: URI), as sender/owner or as peer')
    .option('-o, --output <file>', 'write to this new file (refused if it exists) instead of standard output')
    .action(async (o: { from?: string; to?: string; format: string; user?: string; output?: string }) => {
      const format = usageFormat(o.format);
      await withStore(async (ds, cfg) => {
        // checked before anything is written: a bad date leaves no half-made file behind
        const q = usageQuery(o, cfg.domain);
        const out = o.output === undefined ? process.stdout : createWriteStream(o.output, { flags: 'wx', mode: 0o600 });
        try {
          await pipeline(usageStream(ds, q, format), out);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EEXIST') throw new UsageError(`${o.output} exists: give a new file`);
          if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new UsageError(`cannot write ${o.output}: ${code}`);
          if (code === 'EPIPE') return; // the reader (head, a pager) had enough
          throw err;
        }
        if (o.output !== undefined) console.error(`usage records written to ${o.output}`);
      });
    });
}
