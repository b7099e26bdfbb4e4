import { z } from 'zod';
import { DisplayNameSchema, PagingQuery, PasswordSchema, UserNameSchema, IsoTime } from './common.js';

export const TRANSPORTS = ['udp', 'tcp', 'tls', 'ws', 'wss'] as const;
export const DevicesByTransportSchema = z.object({ udp: z.number(), tcp: z.number(), tls: z.number(), ws: z.number(), wss: z.number() });

export const UserSchema = z.object({
  name: z.string(),
  displayName: z.string().nullable(),
  disabled: z.boolean(),
  createdAt: IsoTime,
  /** registered contacts (devices) now */
  devices: z.number().int(),
});
export type User = z.infer<typeof UserSchema>;

export const UserDetailSchema = UserSchema.extend({
  devicesByTransport: DevicesByTransportSchema,
  /**
   * where the user's clients fetch their settings (A6: GET with the user's own digest
   * credentials; Linphone remote provisioning XML, or JSON): what the console shows as a QR code
   */
  provisioningUrl: z.string(),
});
export type UserDetail = z.infer<typeof UserDetailSchema>;

export const UserListQuerySchema = z.strictObject({
  /** a part of the name or display name (case-insensitive) */
  q: z.string().max(128).optional(),
  sort: z.enum(['name', 'createdAt', 'displayName']).default('name'),
  order: z.enum(['asc', 'desc']).default('asc'),
  ...PagingQuery,
});
export type UserListQuery = z.input<typeof UserListQuerySchema>;

export const UserListSchema = z.object({ items: z.array(UserSchema), total: z.number().int(), page: z.number().int(), pageSize: z.number().int() });
export type UserList = z.infer<typeof UserListSchema>;

export const UserParamsSchema = z.strictObject({ name: UserNameSchema });

export const CreateUserRequestSchema = z.strictObject({
  name: UserNameSchema,
  /** omitted: a password is generated and returned once */
  password: PasswordSchema.optional(),
  displayName: DisplayNameSchema.optional(),
});
export type CreateUserRequest = z.input<typeof CreateUserRequestSchema>;

/** The created user; `password` only when it was generated (shown once, never again). */
export const CreatedUserSchema = UserDetailSchema.extend({ password: z.string().optional() });
export type CreatedUser = z.infer<typeof CreatedUserSchema>;

export const UpdateUserRequestSchema = z
  .strictObject({
    /** null removes it */
    displayName: DisplayNameSchema.nullable().optional(),
    /** true drops the user's registrations at once */
    disabled: z.boolean().optional(),
  })
  .refine((b) => b.displayName !== undefined || b.disabled !== undefined, { message: 'nothing to change: give displayName or disabled' });
export type UpdateUserRequest = z.input<typeof UpdateUserRequestSchema>;

export const PasswordResetRequestSchema = z.strictObject({ password: PasswordSchema.optional() });
export type PasswordResetRequest = z.input<typeof PasswordResetRequestSchema>;
export const PasswordResetResponseSchema = z.object({ password: z.string().optional() });

/** What deleting a user removed besides the account: their XCAP documents and the messages stored for them. */
export const DeleteUserResponseSchema = z.object({ removed: z.object({ documents: z.number().int(), storedMessages: z.number().int() }) });
export type DeleteUserResponse = z.infer<typeof DeleteUserResponseSchema>;
