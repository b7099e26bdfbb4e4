import { z } from 'zod';

/** The usage export's formats: CSV (RFC 4180, header row) or JSON Lines (one record per line). */
export const USAGE_EXPORT_FORMATS = ['csv', 'json'] as const;

/**
 * The usage export (C5): records with from <= time < to (to is exclusive), each a date
 * (YYYY-MM-DD, midnight UTC) or an ISO 8601 date and time; the appliance checks them and names
 * the one at fault. `user`: a user name or sip: URI, as sender/owner or peer.
 */
export const UsageExportQuerySchema = z.strictObject({
  from: z.string().min(1).max(40),
  to: z.string().min(1).max(40),
  format: z.enum(USAGE_EXPORT_FORMATS).default('csv'),
  user: z.string().min(1).max(256).optional(),
});
export type UsageExportQuery = z.input<typeof UsageExportQuerySchema>;
