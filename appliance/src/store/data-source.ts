import path from 'node:path';
import { DataSource } from 'typeorm';
import sqlite3 from 'sqlite3';
import { UserEntity, BindingEntity, DeferredMessageEntity, XcapDocumentEntity, ConsoleAccountEntity, ConsoleSessionEntity, AuditEntity, SubscriptionEntity, SessionHistoryEntity, ConversationEntity, ConversationMessageEntity, UsageRecordEntity, UserProfileEntity, StoreChangeEntity, ExportJobEntity, ExportChunkEntity } from './entities.js';
import { InitialSchema1764100000000 } from './migrations/1764100000000-initial-schema.js';
import { XcapDocuments1764200000000 } from './migrations/1764200000000-xcap-documents.js';
import { UserNames1764300000000 } from './migrations/1764300000000-user-names.js';
import { Subscriptions1764400000000 } from './migrations/1764400000000-subscriptions.js';
import { ConsoleAdmin1764450000000 } from './migrations/1764450000000-console-admin.js';
import { SessionHistory1764600000000 } from './migrations/1764600000000-session-history.js';
import { Conversations1764700000000 } from './migrations/1764700000000-conversations.js';
import { RoomHistory1764710000000 } from './migrations/1764710000000-room-history.js';
import { UsageRecords1764720000000 } from './migrations/1764720000000-usage-records.js';
import { StorageQuota1764730000000 } from './migrations/1764730000000-storage-quota.js';
import { UserProfiles1764740000000 } from './migrations/1764740000000-user-profiles.js';
import { ConversationSearch1764750000000 } from './migrations/1764750000000-conversation-search.js';
import { DeferredCallId1764800000000 } from './migrations/1764800000000-deferred-call-id.js';
import { StoreChanges1764930000000 } from './migrations/1764930000000-store-changes.js';
import { prepareDataFolder, createPrivateFile } from './data-folder.js';

/**
 * The sqlite3 module as TypeORM is handed it. TypeORM's SQLite driver calls
 * `verbose()` on it unconditionally, which wraps every Database and Statement
 * method to capture a stack trace and `util.inspect` every argument (a whole
 * stored document included) on each query: measured at about a third of the
 * CPU of an XCAP element PUT. Here `verbose()` hands back the module unwrapped;
 * a failed query still rejects with SQLite's own error, only without the long
 * stack trace.
 */
const quietSqlite = Object.assign(Object.create(sqlite3) as typeof sqlite3, { verbose: () => sqlite3 });

export const MIGRATIONS = [InitialSchema1764100000000, XcapDocuments1764200000000, UserNames1764300000000, Subscriptions1764400000000, ConsoleAdmin1764450000000, SessionHistory1764600000000, Conversations1764700000000, RoomHistory1764710000000, UsageRecords1764720000000, StorageQuota1764730000000, UserProfiles1764740000000, ConversationSearch1764750000000, DeferredCallId1764800000000, StoreChanges1764930000000];

/**
 * Opens the embedded SQLite store in the data folder and brings its schema up
 * to date (migrations, never `synchronize`). WAL lets the CLI write while the
 * server runs; synchronous=FULL makes a commit survive a power cut, because a
 * 202 promises the message is kept (P2).
 *
 * The data folder is checked first (`prepareDataFolder`): a store open to other users is refused
 * with a `DataFolderError` before SQLite touches it.
 */
export async function openStore(dataDir: string): Promise<DataSource> {
  prepareDataFolder(dataDir);
  const database = path.join(dataDir, 'parley.sqlite');
  // SQLite would create the database file 0644 (SQLITE_DEFAULT_FILE_PERMISSIONS, less the umask).
  // It gives its -wal and -journal files (findCreateFileMode) and its -shm file
  // (unixOpenSharedMemory) the database file's own mode, and fchmods them to it past the umask
  // (robust_open), in os_unix.c of the SQLite the sqlite3 driver bundles. So a database file made
  // 0600 here is all it takes: no process umask, which would be process-wide and race with
  // anything else that creates files meanwhile (and cannot be set from a worker thread).
  createPrivateFile(database);
  const ds = new DataSource({
    type: 'sqlite',
    driver: quietSqlite,
    database,
    entities: [UserEntity, BindingEntity, DeferredMessageEntity, XcapDocumentEntity, ConsoleAccountEntity, ConsoleSessionEntity, AuditEntity, SubscriptionEntity, SessionHistoryEntity, ConversationEntity, ConversationMessageEntity, UsageRecordEntity, UserProfileEntity, StoreChangeEntity, ExportJobEntity, ExportChunkEntity],
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
