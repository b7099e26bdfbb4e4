import { z } from 'zod';

/** The largest per-user message size the appliance takes (256 MiB, as msrp.maxMessageBytes). */
export const PROFILE_MAX_MESSAGE_BYTES = 256 * 2 ** 20;

/** A media range as a profile lists it (RFC 3261 §20.1): type/subtype, type/* or *. */
export const MediaRangeSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(\*|\*\/\*|[a-z0-9!#$&^_.+-]+\/(\*|[a-z0-9!#$&^_.+-]+))$/, 'a media type: type/subtype, type/* or *');

const profileFields = {
  /** pager MESSAGEs and one-to-one sessions */
  im: z.boolean(),
  /** list and group MESSAGEs, chat rooms */
  groupChat: z.boolean(),
  /** conversation and deferred storage */
  storage: z.boolean(),
  /** the largest message body sent or received, bytes */
  maxMessageBytes: z.number().int().min(1).max(PROFILE_MAX_MESSAGE_BYTES),
  /** media types sent and received; empty = all */
  contentTypes: z.array(MediaRangeSchema).max(100),
};

/** A user's service profile (Y1, Y3): what applies, the configured defaults, and the user's own overrides (null: the default). */
export const ProfileSchema = z.object({
  ...profileFields,
  defaults: z.object(profileFields),
  overrides: z.object({
    im: profileFields.im.nullable(),
    groupChat: profileFields.groupChat.nullable(),
    storage: profileFields.storage.nullable(),
    maxMessageBytes: profileFields.maxMessageBytes.nullable(),
    contentTypes: profileFields.contentTypes.nullable(),
  }),
});
export type Profile = z.infer<typeof ProfileSchema>;

/** A change to a user's profile: a value overrides the default, null returns to it, a field left out stays. */
export const UpdateProfileRequestSchema = z
  .strictObject({
    im: profileFields.im.nullable().optional(),
    groupChat: profileFields.groupChat.nullable().optional(),
    storage: profileFields.storage.nullable().optional(),
    maxMessageBytes: profileFields.maxMessageBytes.nullable().optional(),
    contentTypes: profileFields.contentTypes.nullable().optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), { message: 'nothing to change: give at least one field' });
export type UpdateProfileRequest = z.input<typeof UpdateProfileRequestSchema>;
