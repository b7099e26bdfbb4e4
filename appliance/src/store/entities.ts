import { EntitySchema } from 'typeorm';

/** A subscriber of our domain. Only the digest hashes are kept, never the password. */
export interface UserRow {
  id: number;
  /** lower case (core/user-names.ts) */
  username: string;
  /** what recipients see as the sender's name (From and P-Asserted-Identity display name), or null */
  displayName: string | null;
  disabled: boolean;
  /** MD5(username:realm:password), RFC 2617 §3.2.2.2 HA1 */
  ha1Md5: string;
  /** SHA-256(username:realm:password), RFC 8760 / RFC 7616 §3.4.2 */
  ha1Sha256: string;
  realm: string;
  createdAt: number;
  updatedAt: number;
}

/** One registered contact of an address-of-record (RFC 3261 §10.3). */
export interface BindingRow {
  id: number;
  aor: string;
  contact: string;
  /** the contact URI alone, the key within an AOR (RFC 3261 §10.3 step 6 compares URIs) */
  contactUri: string;
  q: number;
  expiresAt: number;
  callId: string;
  cseq: number;
  transport: string;
  sourceAddress: string;
  sourcePort: number;
  flowId: string;
  userAgent: string | null;
  updatedAt: number;
}

/** A pager-mode message kept for an offline recipient (P2), body encrypted at rest. */
export interface DeferredMessageRow {
  id: number;
  recipient: string;
  fromHeader: string;
  senderAor: string;
  contentType: string;
  /** AES-256-GCM: iv (12) + tag (16) + ciphertext */
  body: Buffer;
  receivedAt: number;
  expiresAt: number;
  attempts: number;
  nextAttemptAt: number;
  /** the Call-ID the message arrived with, kept for its push (null: stored before it was kept) */
  callId: string | null;
}

/** One XCAP document (RFC 4825): the XML as stored, with its strong ETag. */
export interface XcapDocumentRow {
  id: number;
  auid: string;
  /** the owner's AOR for users/ documents, '' for global/ ones */
  owner: string;
  path: string;
  content: string;
  etag: string;
  updatedAt: number;
}

export const XcapDocumentEntity = new EntitySchema<XcapDocumentRow>({
  name: 'XcapDocument',
  tableName: 'xcap_documents',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    auid: { type: String },
    owner: { type: String },
    path: { type: String },
    content: { type: 'text' },
    etag: { type: String },
    updatedAt: { type: 'bigint', name: 'updated_at', transformer: numeric() },
  },
  indices: [{ name: 'ix_xcap_documents_key', columns: ['auid', 'owner', 'path'], unique: true }],
});

export const UserEntity = new EntitySchema<UserRow>({
  name: 'User',
  tableName: 'users',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    username: { type: String, unique: true },
    displayName: { type: String, name: 'display_name', nullable: true },
    disabled: { type: Boolean, default: false },
    ha1Md5: { type: String, name: 'ha1_md5' },
    ha1Sha256: { type: String, name: 'ha1_sha256' },
    realm: { type: String },
    createdAt: { type: 'bigint', name: 'created_at', transformer: numeric() },
    updatedAt: { type: 'bigint', name: 'updated_at', transformer: numeric() },
  },
});

export const BindingEntity = new EntitySchema<BindingRow>({
  name: 'Binding',
  tableName: 'bindings',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    aor: { type: String },
    contact: { type: String },
    contactUri: { type: String, name: 'contact_uri' },
    q: { type: 'real' },
    expiresAt: { type: 'bigint', name: 'expires_at', transformer: numeric() },
    callId: { type: String, name: 'call_id' },
    cseq: { type: Number },
    transport: { type: String },
    sourceAddress: { type: String, name: 'source_address' },
    sourcePort: { type: Number, name: 'source_port' },
    flowId: { type: String, name: 'flow_id' },
    userAgent: { type: String, name: 'user_agent', nullable: true },
    updatedAt: { type: 'bigint', name: 'updated_at', transformer: numeric() },
  },
  indices: [{ name: 'ix_bindings_aor_contact', columns: ['aor', 'contactUri'], unique: true }],
});

export const DeferredMessageEntity = new EntitySchema<DeferredMessageRow>({
  name: 'DeferredMessage',
  tableName: 'deferred_messages',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    recipient: { type: String },
    fromHeader: { type: String, name: 'from_header' },
    senderAor: { type: String, name: 'sender_aor' },
    contentType: { type: String, name: 'content_type' },
    body: { type: 'blob' },
    receivedAt: { type: 'bigint', name: 'received_at', transformer: numeric() },
    expiresAt: { type: 'bigint', name: 'expires_at', transformer: numeric() },
    attempts: { type: Number, default: 0 },
    nextAttemptAt: { type: 'bigint', name: 'next_attempt_at', transformer: numeric() },
    callId: { type: String, name: 'call_id', nullable: true },
  },
  indices: [{ name: 'ix_deferred_recipient', columns: ['recipient', 'id'] }],
});

/** A console account (admin API), separate from SIP users: an scrypt hash, never the password. */
export interface ConsoleAccountRow {
  id: number;
  /** lower case */
  name: string;
  role: 'admin' | 'support';
  /** `scrypt$N$r$p$salt$hash` (base64url), admin/password-hash.ts */
  passwordHash: string;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
}

/** A console session: the cookie holds a random token, the store only its SHA-256 (`id`). */
export interface ConsoleSessionRow {
  id: string;
  account: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

/** One audit record (Mattermost's shape): who, from where, what, on what, before and after (JSON). */
export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  source: string;
  action: string;
  target: string | null;
  before: string | null;
  after: string | null;
}

export const ConsoleAccountEntity = new EntitySchema<ConsoleAccountRow>({
  name: 'ConsoleAccount',
  tableName: 'console_accounts',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    name: { type: String, unique: true },
    role: { type: String },
    passwordHash: { type: String, name: 'password_hash' },
    disabled: { type: Boolean, default: false },
    createdAt: { type: 'bigint', name: 'created_at', transformer: numeric() },
    updatedAt: { type: 'bigint', name: 'updated_at', transformer: numeric() },
  },
});

export const ConsoleSessionEntity = new EntitySchema<ConsoleSessionRow>({
  name: 'ConsoleSession',
  tableName: 'console_sessions',
  columns: {
    id: { type: String, primary: true },
    account: { type: String },
    csrfToken: { type: String, name: 'csrf_token' },
    createdAt: { type: 'bigint', name: 'created_at', transformer: numeric() },
    lastSeenAt: { type: 'bigint', name: 'last_seen_at', transformer: numeric() },
    expiresAt: { type: 'bigint', name: 'expires_at', transformer: numeric() },
  },
});

export const AuditEntity = new EntitySchema<AuditRow>({
  name: 'Audit',
  tableName: 'audit_log',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    at: { type: 'bigint', transformer: numeric() },
    actor: { type: String },
    source: { type: String },
    action: { type: String },
    target: { type: String, nullable: true },
    before: { type: 'text', nullable: true },
    after: { type: 'text', nullable: true },
  },
});

/** A subscription that survives a restart (events/subscription-store.ts); dialog and data as JSON. */
export interface SubscriptionRow {
  /** the dialog id: Call-ID, local tag, remote tag */
  id: string;
  event: string;
  subscriber: string;
  resource: string;
  state: string;
  expiresAt: number;
  dialog: string;
  data: string;
  /** NOTIFYs may use CSeqs up to this; a restarted process starts above it (RFC 3261 §12.2.1.1) */
  seqCeiling: number;
}

export const SubscriptionEntity = new EntitySchema<SubscriptionRow>({
  name: 'Subscription',
  tableName: 'subscriptions',
  columns: {
    id: { type: String, primary: true },
    event: { type: String },
    subscriber: { type: String },
    resource: { type: String },
    state: { type: String },
    expiresAt: { type: 'bigint', name: 'expires_at', transformer: numeric() },
    dialog: { type: 'text' },
    data: { type: 'text' },
    seqCeiling: { type: Number, name: 'seq_ceiling' },
  },
});

/** One finished IM session (S1, P4): who, when, how long, how many messages; the history issue reads it. */
export interface SessionHistoryRow {
  id: number;
  /** 'one-to-one' (S1), 'large-message' (P4) or 'room' (one membership of a room, S3/S4) */
  kind: string;
  /** AORs of the caller and the callee; for a room membership, the participant and the room URI */
  caller: string;
  callee: string;
  startedAt: number;
  endedAt: number;
  /** ms from the 200 OK to the end (0 when the session never started) */
  durationMs: number;
  /** complete messages through the switch, both ways (stored ones included) */
  messageCount: number;
  /** why it ended: 'bye-caller', 'bye-callee', 'connection-lost', 'rejected 486' …; a room's: 'departed', 'booted: <reason>', 'failed: <reason>' */
  endReason: string;
  /** messages the caller (the participant) sent, and received (migration 1764710000000; 0 in older rows) */
  sentCount: number;
  receivedCount: number;
}

export const SessionHistoryEntity = new EntitySchema<SessionHistoryRow>({
  name: 'SessionHistory',
  tableName: 'session_history',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    kind: { type: String },
    caller: { type: String },
    callee: { type: String },
    startedAt: { type: 'bigint', name: 'started_at', transformer: numeric() },
    endedAt: { type: 'bigint', name: 'ended_at', transformer: numeric() },
    durationMs: { type: 'bigint', name: 'duration_ms', transformer: numeric() },
    messageCount: { type: Number, name: 'message_count' },
    endReason: { type: String, name: 'end_reason' },
    sentCount: { type: Number, name: 'sent_count', default: 0 },
    receivedCount: { type: Number, name: 'received_count', default: 0 },
  },
});

/**
 * A stored conversation (H1): one user's record of a pager exchange with a peer, one session or one
 * room membership. Owned by one user; if both sides ask, each has their own. `publicId` names it in
 * the IM XDMS's im-history document, the HTTP retrieval API and its SIP/MSRP replay URI.
 */
export interface ConversationRow {
  id: number;
  /** url-safe, unguessable (the owner's references name it; nothing else does) */
  publicId: string;
  /** the owner's AOR */
  owner: string;
  /** 'pager', 'session' or 'room' */
  kind: string;
  /** what the capture matches new messages on: 'pager:<peer AOR>', 'session:<Call-ID>', 'room:<room URI>:<Call-ID>' */
  captureKey: string;
  /** the owner's name for it (renamed over XCAP) */
  name: string;
  /** the other parties' AORs (or the room URI first), JSON array */
  peers: string;
  /** still taking new messages: a pager conversation until the owner stops it, a session until it ends */
  recording: boolean;
  createdAt: number;
  /** server time of the first and last stored message (0 before the first) */
  firstAt: number;
  lastAt: number;
  messageCount: number;
  /** plaintext body bytes stored (what counts against the quota) */
  bytes: number;
}

export const ConversationEntity = new EntitySchema<ConversationRow>({
  name: 'Conversation',
  tableName: 'conversations',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    publicId: { type: String, name: 'public_id', unique: true },
    owner: { type: String },
    kind: { type: String },
    captureKey: { type: String, name: 'capture_key' },
    name: { type: String },
    peers: { type: 'text' },
    recording: { type: Boolean },
    createdAt: { type: 'bigint', name: 'created_at', transformer: numeric() },
    firstAt: { type: 'bigint', name: 'first_at', transformer: numeric() },
    lastAt: { type: 'bigint', name: 'last_at', transformer: numeric() },
    messageCount: { type: Number, name: 'message_count' },
    bytes: { type: 'bigint', transformer: numeric() },
  },
  indices: [{ name: 'ix_conversations_owner', columns: ['owner', 'lastAt'] }],
});

/** One stored message of a conversation (H1): sender, recipients, content type, sealed body, server time. */
export interface ConversationMessageRow {
  id: number;
  conversationId: number;
  /** the sender's AOR */
  sender: string;
  /** the recipients' AORs (or the room URI), JSON array */
  recipients: string;
  contentType: string;
  /** AES-256-GCM sealed (MessageCipher), bound to the conversation */
  body: Buffer;
  /** plaintext length */
  bytes: number;
  /** server timestamp, ms (seed 5.4.7: the server stamps each stored message) */
  storedAt: number;
  /** RFC 5438 imdn.Message-ID of the CPIM message, when it had one */
  messageId: string | null;
}

export const ConversationMessageEntity = new EntitySchema<ConversationMessageRow>({
  name: 'ConversationMessage',
  tableName: 'conversation_messages',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    conversationId: { type: Number, name: 'conversation_id' },
    sender: { type: String },
    recipients: { type: 'text' },
    contentType: { type: String, name: 'content_type' },
    body: { type: 'blob' },
    bytes: { type: Number },
    storedAt: { type: 'bigint', name: 'stored_at', transformer: numeric() },
    messageId: { type: String, name: 'message_id', nullable: true },
  },
  indices: [
    { name: 'ix_conversation_messages_conv', columns: ['conversationId', 'id'] },
    { name: 'ix_conversation_messages_time', columns: ['storedAt'] },
    { name: 'ix_conversation_messages_sender', columns: ['sender', 'conversationId'] },
  ],
});

/**
 * A user's service profile overrides (Y1, Y3): one row per user who differs from the configured
 * defaults (`profile.*`); a null column follows the default.
 */
export interface UserProfileRow {
  /** the user's canonical (lower-case) name */
  username: string;
  im: boolean | null;
  groupChat: boolean | null;
  storage: boolean | null;
  maxMessageBytes: number | null;
  /** JSON array of media ranges, or null */
  contentTypes: string | null;
  updatedAt: number;
}

export const UserProfileEntity = new EntitySchema<UserProfileRow>({
  name: 'UserProfile',
  tableName: 'user_profiles',
  columns: {
    username: { type: String, primary: true },
    im: { type: Boolean, nullable: true },
    groupChat: { type: Boolean, name: 'group_chat', nullable: true },
    storage: { type: Boolean, nullable: true },
    maxMessageBytes: { type: Number, name: 'max_message_bytes', nullable: true },
    contentTypes: { type: 'text', name: 'content_types', nullable: true },
    updatedAt: { type: 'bigint', name: 'updated_at', transformer: numeric() },
  },
});

/** SQLite hands bigint columns back as numbers or strings depending on size; we keep ms numbers. */
function numeric() {
  return { to: (v: number) => v, from: (v: string | number | null) => (v === null ? 0 : Number(v)) };
}

/** One usage (charging) record (C5): see appliance/src/usage/usage-types.ts for what each kind holds. */
export interface UsageRecordRow {
  id: number;
  /** ms; a session or room membership: when it started */
  at: number;
  kind: string;
  user: string;
  peer: string;
  service: string | null;
  outcome: string;
  status: number | null;
  reason: string | null;
  bytes: number | null;
  messages: number | null;
  durationMs: number | null;
}

export const UsageRecordEntity = new EntitySchema<UsageRecordRow>({
  name: 'UsageRecord',
  tableName: 'usage_records',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    at: { type: 'bigint', transformer: numeric() },
    kind: { type: String },
    user: { type: String },
    peer: { type: String },
    service: { type: String, nullable: true },
    outcome: { type: String },
    status: { type: Number, nullable: true },
    reason: { type: String, nullable: true },
    bytes: { type: 'bigint', nullable: true },
    messages: { type: Number, nullable: true },
    durationMs: { type: 'bigint', name: 'duration_ms', nullable: true },
  },
  indices: [
    { name: 'ix_usage_records_at', columns: ['at', 'id'] },
  ],
});

/** A topic's change counter (store/store-changes.ts): bumped by every write to the cached data it names. */
export interface StoreChangeRow {
  topic: string;
  version: number;
}

export const StoreChangeEntity = new EntitySchema<StoreChangeRow>({
  name: 'StoreChange',
  tableName: 'store_changes',
  columns: {
    topic: { type: String, primary: true },
    version: { type: 'bigint', transformer: numeric() },
  },
});

/** A conversation export (A2), shared by every node: history/export-jobs.ts. */
export interface ExportJobRow {
  /** public id (96 random bits, base64url) */
  id: string;
  /** the exported conversation's public id */
  conversation: string;
  format: string;
  /** the console account that started it (only it may poll and download) */
  actor: string;
  state: string;
  done: number;
  total: number;
  /** output bytes written so far */
  bytes: number;
  /** `export_chunks` rows written so far */
  chunks: number;
  filename: string;
  contentType: string;
  error: string | null;
  createdAt: number;
  /** last sign of life of the node running it: a running job whose node stopped is failed by the next sweep */
  heartbeatAt: number;
  /** when a finished job and its output are deleted (null while it runs) */
  expiresAt: number | null;
}

export const ExportJobEntity = new EntitySchema<ExportJobRow>({
  name: 'ExportJob',
  tableName: 'export_jobs',
  columns: {
    id: { type: String, primary: true },
    conversation: { type: String },
    format: { type: String },
    actor: { type: String },
    state: { type: String },
    done: { type: Number },
    total: { type: Number },
    bytes: { type: 'bigint', transformer: numeric() },
    chunks: { type: Number },
    filename: { type: String },
    contentType: { type: String, name: 'content_type' },
    error: { type: String, nullable: true },
    createdAt: { type: 'bigint', name: 'created_at', transformer: numeric() },
    heartbeatAt: { type: 'bigint', name: 'heartbeat_at', transformer: numeric() },
    expiresAt: { type: 'bigint', name: 'expires_at', nullable: true, transformer: { to: (v: number | null) => v, from: (v: string | number | null) => (v === null ? null : Number(v)) } },
  },
  indices: [{ name: 'ix_export_jobs_expires', columns: ['expiresAt'] }],
});

/** One piece of an export's output, in order (`seq` from 0). */
export interface ExportChunkRow {
  jobId: string;
  seq: number;
  data: Buffer;
}

export const ExportChunkEntity = new EntitySchema<ExportChunkRow>({
  name: 'ExportChunk',
  tableName: 'export_chunks',
  columns: {
    jobId: { type: String, primary: true, name: 'job_id' },
    seq: { type: Number, primary: true },
    data: { type: 'blob' },
  },
});
