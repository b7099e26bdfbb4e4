import type { Command } from 'commander';
import type { Config } from '../config/config.js';
import { selfTest } from './self-test.js';
import { openStore } from '../store/data-source.js';
import { backupDataFolder, restoreDataFolder, type BackupSummary } from './backup.js';

const summary = (s: BackupSummary): string => `${s.users} users, ${s.documents} XCAP documents, ${s.storedMessages} stored messages; schema ${s.migration}`;

/**
 * `parley backup`, `parley restore` (and `parley self-test`): operations on a whole
 * installation (README: Backup and restore).
 */
export function registerOpsCommands(program: Command, config: () => Config): void {
  program
    .command('migrate')
    .description('bring the store\'s schema up to date and exit (the Debian package runs it on upgrade, before the new version serves)')
    .action(async () => {
      const ds = await openStore(config().dataDir);
      const applied = (await ds.query('SELECT name FROM migrations ORDER BY timestamp')) as { name: string }[];
      await ds.destroy();
      console.log(`store schema up to date: ${applied.at(-1)?.name ?? '(none)'}`);
    });
  program
    .command('self-test')
    .description('check config, store, ports, certificate, DNS records and a live SIP/XCAP/WebSocket round trip; exit 1 if any check fails')
    .action(async () => {
      process.exitCode = await selfTest(program.opts<{ config?: string }>().config, (line) => console.log(line));
    });
  program
    .command('backup <file>')
    .description('write a consistent copy of the store, its message key and TLS pair to FILE (a new file); safe while the server runs')
    .action(async (file: string) => {
      const s = await backupDataFolder(config().dataDir, file);
      console.log(`backup written to ${s.file}: ${summary(s)}`);
    });
  program
    .command('restore <file>')
    .description('bring a backup into the data folder (an empty one, or with --force with the service stopped)')
    .option('--force', 'replace the store already in the data folder (stop the service first)')
    .action(async (file: string, o: { force?: boolean }) => {
      const s = await restoreDataFolder(config().dataDir, file, { force: o.force === true });
      console.log(`restored from ${s.file}: ${summary(s)}; the schema is brought up to date when parley starts`);
    });
}
