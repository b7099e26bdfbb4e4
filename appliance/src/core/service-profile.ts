import { mediaTypeOf } from '../sip/message/media-type.js';
import { parseCpim } from '../im/controlling/cpim.js';

/**
 * A user's service profile (Y1 service authorisation, Y3 filtering): what the IM service does for
 * them. Every path that carries a message asks it: pager, exploder, rooms, sessions, MSRP, storage.
 */
export interface ServiceProfile {
  /** instant messaging at all: pager MESSAGEs and one-to-one sessions, sent and received */
  im: boolean;
  /** group chat: list and group MESSAGEs (the exploder) and chat rooms */
  groupChat: boolean;
  /** conversation storage (H1) and deferred storage (P2) for them */
  storage: boolean;
  /** the largest message body they send or receive, in bytes */
  maxMessageBytes: number;
  /** media types they send and receive (`text/plain`, `text/*`, `*`); empty = all */
  contentTypes: string[];
}

/** The stored overrides of one user: null fields follow the configured defaults. */
export type ProfileOverrides = { [K in keyof ServiceProfile]: ServiceProfile[K] | null };

/** No override at all: the user follows `profile.*` of the configuration. */
export const NO_OVERRIDES: ProfileOverrides = { im: null, groupChat: null, storage: null, maxMessageBytes: null, contentTypes: null };

/** The effective profile: each override, else the default. */
export function effectiveProfile(defaults: ServiceProfile, o: ProfileOverrides): ServiceProfile {
  return {
    im: o.im ?? defaults.im,
    groupChat: o.groupChat ?? defaults.groupChat,
    storage: o.storage ?? defaults.storage,
    maxMessageBytes: o.maxMessageBytes ?? defaults.maxMessageBytes,
    contentTypes: o.contentTypes ?? defaults.contentTypes,
  };
}

/** A media range as Accept writes it (RFC 3261 §20.1): `type/subtype`, `type/*` or `*` (as `*\/*`). */
const MEDIA_RANGE = /^(\*|\*\/\*|[a-z0-9!#$&^_.+-]+\/(\*|[a-z0-9!#$&^_.+-]+))$/;

/** Whether a string is a media range a profile can list. */
export function isMediaRange(s: string): boolean {
  return MEDIA_RANGE.test(s);
}

/** Lower-cases, checks and de-duplicates a list of media ranges; throws naming the first bad one. */
export function normalizeContentTypes(list: string[]): string[] {
  const out: string[] = [];
  for (const raw of list) {
    const t = raw.trim().toLowerCase();
    if (!isMediaRange(t)) throw new Error(`'${raw}' is not a media type (type/subtype, type/* or *)`);
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

/** Does media range `range` cover media type `type` (both lower case, without parameters)? */
function covers(range: string, type: string): boolean {
  if (range === '*' || range === '*/*') return true;
  if (range.endsWith('/*')) return type.startsWith(range.slice(0, -1));
  return range === type;
}

/** Whether the profile takes content of this media type (a range itself, as in an SDP a=accept-types). */
export function allowsType(p: ServiceProfile, type: string): boolean {
  if (p.contentTypes.length === 0) return true;
  const t = mediaTypeOf(type);
  if (t === '*' || t === '*/*') return p.contentTypes.some((r) => r === '*' || r === '*/*');
  if (t.endsWith('/*')) return p.contentTypes.some((r) => r === '*' || r === '*/*' || r === t);
  return p.contentTypes.some((r) => covers(r, t));
}

/** RFC 5438: delivery and display notifications are not content; no profile stops them. */
const IMDN_TYPE = 'message/imdn+xml';

/**
 * The media type a profile judges a message by: the content's, seen through a message/cpim
 * wrapper (RFC 3862) when there is one, as a client that allows `text/plain` means the text,
 * however it is wrapped. An unreadable CPIM body is judged as message/cpim.
 */
export function contentTypeOf(contentType: string, body: Buffer): string {
  const outer = mediaTypeOf(contentType) || 'text/plain';
  if (outer !== 'message/cpim') return outer;
  const inner = parseCpim(body);
  return inner === null ? outer : mediaTypeOf(inner.contentType) || 'text/plain';
}

/** Whether a message of this (outer) content type and body passes a profile's type filter. */
export function allowsContent(p: ServiceProfile, contentType: string, body: Buffer): boolean {
  // no type filter: everything passes, so no need to look inside a CPIM wrapper (the pager's hot path)
  if (p.contentTypes.length === 0) return true;
  const type = contentTypeOf(contentType, body);
  return type === IMDN_TYPE || allowsType(p, type);
}

/** The Accept value for a 415 (RFC 3261 §21.4.13, §20.1): the profile's media ranges. */
export function acceptHeader(p: ServiceProfile): string {
  return p.contentTypes.map((t) => (t === '*' ? '*/*' : t)).join(', ');
}

/**
 * The media types of a peer's a=accept-types a profile lets through (RFC 4975 §8.6): each type
 * the profile allows; a wildcard the profile narrows becomes the profile's own types.
 * message/cpim stays: it is a wrapper, judged by what it carries.
 */
export function narrowAcceptTypes(p: ServiceProfile, offered: string[]): string[] {
  if (p.contentTypes.length === 0) return offered;
  const out: string[] = [];
  const add = (t: string): void => {
    if (!out.includes(t)) out.push(t);
  };
  for (const t of offered) {
    const lower = t.toLowerCase();
    if (lower === 'message/cpim') add(t);
    else if (allowsType(p, lower)) add(t);
    else if (lower === '*' || lower.endsWith('/*')) for (const r of p.contentTypes) if (r === '*' || r === '*/*' || covers(lower, r.replace(/\/\*$/, '/x'))) add(r);
  }
  return out;
}
