import { z } from 'zod';
import { IsoTime, PagingQuery } from './common.js';

export const AuditQuerySchema = z.strictObject({
  actor: z.string().max(64).optional(),
  /** an action, e.g. user.create, or a prefix ending in '.', e.g. user. */
  action: z.string().max(64).optional(),
  from: IsoTime.optional(),
  to: IsoTime.optional(),
  ...PagingQuery,
});
export type AuditQuery = z.input<typeof AuditQuerySchema>;
/** The CSV download takes the same filters; it has no pages (at most 100,000 rows, newest first). */
export const AuditCsvQuerySchema = AuditQuerySchema.omit({ page: true, pageSize: true });

export const AuditEntrySchema = z.object({
  id: z.number().int(),
  at: IsoTime,
  /** the console account, or the name tried for a failed login */
  actor: z.string(),
  /** the client's address */
  source: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  before: z.unknown().nullable(),
  after: z.unknown().nullable(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
export const AuditListSchema = z.object({ items: z.array(AuditEntrySchema), total: z.number().int() });
export type AuditList = z.infer<typeof AuditListSchema>;
