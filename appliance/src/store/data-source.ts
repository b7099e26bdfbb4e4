import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { UserEntity, BindingEntity, DeferredMessageEntity, XcapDocumentEntity } from './entities.js';
import { InitialSchema1764100000000 } from './migrations/1764100000000-initial-schema.js';
import { XcapDocuments1764200000000 } from './migrations/1764200000000-xcap-documents.js';
import { UserNames1764300000000 } from './migrations/1764300000000-user-names.js';

export const MIGRATIONS = [InitialSchema1764100000000, XcapDocuments1764200000000, UserNames1764300000000];

/**
 * Opens the embedded SQLite store in the data folder and brings its schema up
 * to date (migrations, never `synchronize`). WAL lets the CLI write while the
 * server runs; synchronous=FULL makes a commit survive a power cut, because a
 * 202 promises the message is kept (P2).
 */
export async function openStore(dataDir: string): Promise<DataSource> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const ds = new DataSource({
    type: 'sqlite',
    database: path.join(dataDir, 'parley.sqlite'),
    entities: [UserEntity, BindingEntity, DeferredMessageEntity, XcapDocumentEntity],
    migrations: MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    logging: false,
    busyErrorRetry: 100,
    enableWAL: true,
  });
  await ds.initialize();
  await ds.query('PRAGMA busy_timeout = 5000');
  await ds.query('PRAGMA synchronous = FULL');
  await ds.runMigrations({ transaction: 'each' });
  return ds;
}
