import { z } from 'zod';
import { IsoTime, LIMITS, PagingQuery, UserNameSchema } from './common.js';

/**
 * Stored conversations in the console (issue 11, A2/A3): search across all users, the reader,
 * export jobs, and a user's session history. Support and admin read; every read of a
 * conversation's messages and every export is written to the audit log.
 */

/** A user name of the appliance's domain, or a full sip:/sips: URI. */
const PartyQuery = z.string().trim().min(1).max(256);

export const ConversationSearchQuerySchema = z.strictObject({
  /** the conversation's owner or a sender of one of its messages */
  participant: PartyQuery.optional(),
  /** one of the conversation's peers */
  peer: PartyQuery.optional(),
  /** the group or room URI (a room conversation names it among its peers) */
  group: PartyQuery.optional(),
  /** messages stored at or after / before these times */
  from: IsoTime.optional(),
  to: IsoTime.optional(),
  /** words of text messages (any text: it is never read as query syntax); a trailing * matches a prefix */
  q: z.string().max(256).optional(),
  ...PagingQuery,
});
export type ConversationSearchQuery = z.input<typeof ConversationSearchQuerySchema>;

export const ConversationKindSchema = z.enum(['pager', 'session', 'room']);

/** A stored conversation as the console lists it (never a body). */
export const ConversationSummarySchema = z.object({
  id: z.string(),
  owner: z.string(),
  kind: z.string(),
  name: z.string(),
  peers: z.array(z.string()),
  /** null before the first message */
  firstAt: IsoTime.nullable(),
  lastAt: IsoTime.nullable(),
  messageCount: z.number().int(),
  bytes: z.number().int(),
  recording: z.boolean(),
});
export type ConversationSummary = z.infer<typeof ConversationSummarySchema>;

/** A search result: the conversation, how many of its messages match, and the newest match's time. */
export const ConversationHitSchema = ConversationSummarySchema.extend({ hits: z.number().int(), lastHitAt: IsoTime });
export type ConversationHit = z.infer<typeof ConversationHitSchema>;
export const ConversationSearchResultSchema = z.object({ items: z.array(ConversationHitSchema), total: z.number().int() });
export type ConversationSearchResult = z.infer<typeof ConversationSearchResultSchema>;

export const ConversationParamsSchema = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a conversation id') });

export const ConversationMessagesQuerySchema = z.strictObject({
  /** messages after this one (0: from the start) */
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(LIMITS.maxPageSize).default(100),
});
export type ConversationMessagesQuery = z.input<typeof ConversationMessagesQuerySchema>;

/** A stored message as the reader shows it. */
export const ConversationMessageSchema = z.object({
  id: z.number().int(),
  sender: z.string(),
  recipients: z.array(z.string()),
  /** as it travelled (message/cpim for CPIM-wrapped messages) */
  contentType: z.string(),
  /** the content's own type (inside CPIM, RFC 3862) */
  displayType: z.string(),
  /** the text of text content, null for other content */
  text: z.string().nullable(),
  bytes: z.number().int(),
  storedAt: IsoTime,
  messageId: z.string().nullable(),
});
export type ConversationMessage = z.infer<typeof ConversationMessageSchema>;
export const ConversationMessagesSchema = z.object({
  items: z.array(ConversationMessageSchema),
  /** the `after` of the next page, null at the end */
  next: z.number().int().nullable(),
});
export type ConversationMessages = z.infer<typeof ConversationMessagesSchema>;

export const EXPORT_FORMATS = ['json', 'csv', 'html'] as const;
export const ExportFormatSchema = z.enum(EXPORT_FORMATS);
export type ExportFormat = z.infer<typeof ExportFormatSchema>;
export const CreateExportBodySchema = z.strictObject({ format: ExportFormatSchema });
export type CreateExportBody = z.input<typeof CreateExportBodySchema>;

export const ExportParamsSchema = z.strictObject({ job: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'an export job id') });

/** An export job: the console polls it for progress, then downloads the file. */
export const ExportJobSchema = z.object({
  id: z.string(),
  conversation: z.string(),
  format: ExportFormatSchema,
  state: z.enum(['running', 'done', 'failed']),
  /** messages written so far, of `total` */
  done: z.number().int(),
  total: z.number().int(),
  /** the download's file name */
  filename: z.string(),
  error: z.string().nullable(),
  createdAt: IsoTime,
  /** when the file is deleted (done jobs) */
  expiresAt: IsoTime.nullable(),
});
export type ExportJob = z.infer<typeof ExportJobSchema>;

export const SessionHistoryQuerySchema = z.strictObject({ ...PagingQuery });
export type SessionHistoryQuery = z.input<typeof SessionHistoryQuerySchema>;
export const SessionHistoryParamsSchema = z.strictObject({ name: UserNameSchema });

/** One finished session of a user (the session_history table), newest first. */
export const SessionHistoryEntrySchema = z.object({
  id: z.number().int(),
  kind: z.string(),
  caller: z.string(),
  callee: z.string(),
  startedAt: IsoTime,
  endedAt: IsoTime,
  durationMs: z.number().int(),
  messageCount: z.number().int(),
  endReason: z.string(),
});
export type SessionHistoryEntry = z.infer<typeof SessionHistoryEntrySchema>;
export const SessionHistoryListSchema = z.object({ items: z.array(SessionHistoryEntrySchema), total: z.number().int() });
export type SessionHistoryList = z.infer<typeof SessionHistoryListSchema>;
