import { z } from 'zod';
import { DISPLAY_NAME_RULE, PASSWORD_MAX, PASSWORD_MIN, USER_NAME_RULE, canonicalUserName, checkDisplayName } from '../rules/user-names.js';

/** Limits of the admin API (README: Admin API), checked by the schemas below and by the appliance. */
export const LIMITS = {
  /** largest page of any list */
  maxPageSize: 200,
  /** largest JSON request body, in bytes */
  maxJsonBytes: 64 * 1024,
  /** largest CSV import, in bytes and in data rows */
  maxCsvBytes: 2 * 1024 * 1024,
  maxCsvRows: 10_000,
  /** members of one group, senders of one block list */
  maxMembers: 1000,
  maxBlocked: 1000,
} as const;

/** `{error: {code, message, field?}}`: every failed API request answers with this shape. */
export const ApiErrorSchema = z.object({
  error: z.object({
    code: z.string().describe('stable snake_case code, e.g. validation_failed, forbidden, stale_etag'),
    message: z.string(),
    field: z.string().optional().describe('the JSON path (dotted) of the input at fault'),
  }),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;

/** A user name as typed: validated against the one rule, returned in canonical (lower-case) form. */
export const UserNameSchema = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const name = canonicalUserName(s);
    if (name === null) {
      ctx.addIssue({ code: 'custom', message: `invalid user name: ${USER_NAME_RULE}` });
      return z.NEVER;
    }
    return name;
  })
  .describe(USER_NAME_RULE);

export const DisplayNameSchema = z
  .string()
  .max(128)
  .transform((s, ctx) => {
    const d = checkDisplayName(s);
    if (d === null) {
      ctx.addIssue({ code: 'custom', message: `invalid display name: ${DISPLAY_NAME_RULE}` });
      return z.NEVER;
    }
    return d;
  })
  .describe(DISPLAY_NAME_RULE);

export const PasswordSchema = z.string().min(PASSWORD_MIN).max(PASSWORD_MAX);

/** A SIP or SIPS URI (or tel:), as a member of a group or a blocked sender; checked fully by the appliance. */
export const SipUriSchema = z
  .string()
  .max(256)
  .regex(/^(sips?:[^\s<>"]+@[^\s<>"]+|tel:\+?[0-9().-]+)$/i, 'a sip:, sips: or tel: URI');

/** Query-string integer (the query is text). */
const queryInt = (min: number, max: number, dflt: number) => z.coerce.number().int().min(min).max(max).default(dflt);

/** page=1.., pageSize=1..200 (default 50) */
export const PagingQuery = {
  page: queryInt(1, 1_000_000, 1),
  pageSize: queryInt(1, LIMITS.maxPageSize, 50),
};

/** A query-string boolean: "true" or "false". */
export const queryBool = (dflt: boolean) =>
  z
    .enum(['true', 'false'])
    .default(dflt ? 'true' : 'false')
    .transform((v) => v === 'true');

export const IsoTime = z.iso.datetime({ offset: true });
