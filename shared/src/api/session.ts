import { z } from 'zod';
import { IsoTime } from './common.js';

/** Console roles: `admin` may do everything, `support` may read users, stored-message counts and status. */
export const RoleSchema = z.enum(['admin', 'support']);
export type Role = z.infer<typeof RoleSchema>;

/** Console account names: the same alphabet as user names, but a separate namespace (console accounts are not SIP users). */
export const AccountNameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/i, "1 to 64 letters, digits, '.', '_' or '-'").transform((s) => s.toLowerCase());

export const LoginRequestSchema = z.strictObject({
  name: AccountNameSchema,
  password: z.string().min(1).max(1024),
});
export type LoginRequest = z.input<typeof LoginRequestSchema>;

export const SessionSchema = z.object({
  account: z.object({ name: z.string(), role: RoleSchema }),
  /** send it back as the X-CSRF-Token header on every mutation */
  csrfToken: z.string(),
  expiresAt: IsoTime,
});
export type Session = z.infer<typeof SessionSchema>;

/** The header every mutation must carry (the session's csrfToken). */
export const CSRF_HEADER = 'X-CSRF-Token';
/** The session cookie (HttpOnly, SameSite=Strict, Path=/). */
export const SESSION_COOKIE = 'parley_session';
