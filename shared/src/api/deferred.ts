import { z } from 'zod';
import { IsoTime, PagingQuery, UserNameSchema } from './common.js';

export const DeferredQuerySchema = z.strictObject({ ...PagingQuery });
export type DeferredQuery = z.input<typeof DeferredQuerySchema>;

/** Messages waiting in deferred storage for one user (never their bodies). */
export const DeferredEntrySchema = z.object({ user: z.string(), count: z.number().int(), oldestAt: IsoTime, bytes: z.number().int() });
export type DeferredEntry = z.infer<typeof DeferredEntrySchema>;
export const DeferredListSchema = z.object({ items: z.array(DeferredEntrySchema), total: z.number().int() });
export type DeferredList = z.infer<typeof DeferredListSchema>;

export const DeferredParamsSchema = z.strictObject({ user: UserNameSchema });
export const PurgeResultSchema = z.object({ purged: z.number().int() });
export type PurgeResult = z.infer<typeof PurgeResultSchema>;
