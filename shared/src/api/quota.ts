import { z } from 'zod';
import { PagingQuery, UserNameSchema } from './common.js';

/** Users by storage (H3): largest first by default; `state` keeps only those near (≥ first threshold) or over. */
export const QuotaListQuerySchema = z.strictObject({
  /** a part of the user name (case-insensitive) */
  q: z.string().max(128).optional(),
  sort: z.enum(['bytes', 'percent', 'user']).default('bytes'),
  order: z.enum(['asc', 'desc']).default('desc'),
  state: z.enum(['near', 'over']).optional(),
  ...PagingQuery,
});
export type QuotaListQuery = z.input<typeof QuotaListQuerySchema>;

/** One user's storage: conversation plus deferred bytes against their quota. */
export const QuotaEntrySchema = z.object({
  user: z.string(),
  usedBytes: z.number().int(),
  conversationBytes: z.number().int(),
  deferredBytes: z.number().int(),
  quotaBytes: z.number().int(),
  /** the user has their own quota (else the default) */
  override: z.boolean(),
  percent: z.number().int(),
  /** the highest threshold the user was warned about (0: none, 100: storage refused) */
  level: z.number().int(),
  /** ok, near (at or past the first threshold) or over (at the quota: new storage refused) */
  state: z.enum(['ok', 'near', 'over']),
});
export type QuotaEntry = z.infer<typeof QuotaEntrySchema>;

export const QuotaListSchema = z.object({
  /** the site's default quota (config quota.defaultBytes) */
  defaultBytes: z.number().int(),
  /** warning thresholds in percent, 100 last */
  thresholds: z.array(z.number().int()),
  items: z.array(QuotaEntrySchema),
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
});
export type QuotaList = z.infer<typeof QuotaListSchema>;

export const QuotaParamsSchema = z.strictObject({ user: UserNameSchema });

/** A user's own quota in bytes, or null to return them to the default. */
export const QuotaUpdateSchema = z.strictObject({ bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable() });
export type QuotaUpdate = z.infer<typeof QuotaUpdateSchema>;
