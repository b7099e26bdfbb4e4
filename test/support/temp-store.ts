import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../appliance/src/store/data-source.js';

// typeorm lives in the appliance workspace; take its type from there
type DataSource = Awaited<ReturnType<typeof openStore>>;

/** A real SQLite store, migrated, in a fresh temporary data folder (unit tests). */
export async function tempStore(prefix: string): Promise<{ dir: string; ds: DataSource; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `parley-${prefix}-`));
  const ds = await openStore(dir);
  return {
    dir,
    ds,
    async cleanup() {
      await ds.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
