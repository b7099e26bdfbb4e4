import type { UserUsage } from './storage-quota.js';

/** The storage-quota usage's namespace (xdms/app-usages.ts, schemas/parley-storage-quota.xsd). */
export const QUOTA_NS = 'urn:parley:params:xml:ns:storage-quota';

/**
 * The quota document a client reads over XCAP (`storage-quota/users/<aor>/index`, H3): bytes
 * used (conversations plus deferred), the quota, the percent, the thresholds, the level the user
 * was warned about, and whether new messages are stored now.
 */
export function quotaDocument(u: UserUsage, thresholds: readonly number[]): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<storage-quota xmlns="${QUOTA_NS}">\n` +
    `  <used>${u.usedBytes}</used>\n  <quota>${u.quotaBytes}</quota>\n  <percent>${u.percent}</percent>\n` +
    `  <conversation-bytes>${u.conversationBytes}</conversation-bytes>\n  <deferred-bytes>${u.deferredBytes}</deferred-bytes>\n` +
    `  <thresholds>${thresholds.map((t) => `<threshold>${t}</threshold>`).join('')}</thresholds>\n` +
    `  <level>${u.level}</level>\n  <storing>${u.usedBytes < u.quotaBytes}</storing>\n</storage-quota>\n`
  );
}
