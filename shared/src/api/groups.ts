import { z } from 'zod';
import { DisplayNameSchema, LIMITS, SipUriSchema, UserNameSchema } from './common.js';

/**
 * A group (OMA shared group, `org.openmobilealliance.groups`): a <list-service> in the owner's
 * `index` document. Its URI is `sip:<name>@<domain>`, unique on the server.
 */
export const GroupSchema = z.object({
  name: z.string(),
  /** the group URI */
  uri: z.string(),
  displayName: z.string(),
  /** public: anyone of the domain may join; private: members only */
  visibility: z.enum(['public', 'private']),
  maxParticipants: z.number().int().nullable(),
  members: z.array(z.string()),
});
export type Group = z.infer<typeof GroupSchema>;

export const GroupListSchema = z.object({ items: z.array(GroupSchema) });
export type GroupList = z.infer<typeof GroupListSchema>;

/** PUT body: the group without its name (the name is in the path). */
export const GroupBodySchema = z.strictObject({
  displayName: DisplayNameSchema,
  visibility: z.enum(['public', 'private']),
  maxParticipants: z.number().int().min(1).max(10_000).nullable().default(null),
  members: z.array(SipUriSchema).max(LIMITS.maxMembers),
});
export type GroupBody = z.input<typeof GroupBodySchema>;

export const GroupParamsSchema = z.strictObject({ name: UserNameSchema, group: UserNameSchema });

export const BlockedSchema = z.object({ senders: z.array(z.string()) });
export type Blocked = z.infer<typeof BlockedSchema>;
export const BlockedBodySchema = z.strictObject({ senders: z.array(SipUriSchema).max(LIMITS.maxBlocked) });
export type BlockedBody = z.input<typeof BlockedBodySchema>;
