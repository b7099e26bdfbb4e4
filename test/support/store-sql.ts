import path from 'node:path';
import sqlite3 from 'sqlite3';
import type { RunningAppliance } from './appliance.js';

/**
 * Runs one statement on a running appliance's SQLite store from outside, as a failing disk, an
 * operator's mistake or a restore without its key would leave it. It waits (5 s at most) for a
 * write of the appliance's own to commit rather than failing at once with SQLITE_BUSY.
 */
export async function runSql(app: RunningAppliance, statement: string): Promise<void> {
  const db = new sqlite3.Database(path.join(app.dataDir, 'parley.sqlite'));
  try {
    db.configure('busyTimeout', 5000);
    await new Promise<void>((resolve, reject) => db.run(statement, (err) => (err ? reject(err) : resolve())));
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}
