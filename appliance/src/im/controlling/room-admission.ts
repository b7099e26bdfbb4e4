import { SipError } from '../../sip/errors.js';
import type { ListResolver } from '../../xdms/list-resolver.js';
import type { Participant } from './room.js';

/** A group of the shared XDMS as a room sees it (list-resolver.ts). */
export type RoomGroup = NonNullable<Awaited<ReturnType<ListResolver['groupMembers']>>>;

/**
 * The rule of one room: an ad-hoc room's set of invited users (lower-case AORs, the creator
 * among them), or the group a pre-defined room is (S3).
 */
export type RoomRule = { invited: Set<string>; group: null } | { invited: null; group: RoomGroup };

/**
 * Who may join a room, watch it and be invited into it, by the room's own rule (the users' own
 * rules are in room-policy.ts). An ad-hoc room (S2, RFC 5366) admits its creator and whoever
 * was invited into it, for as long as anyone is in it; a group's room admits anyone when the
 * group is public and its members only when it is private. RFC 4575 §3.5 leaves who may watch
 * a conference to the focus's policy: we let watch whoever may join.
 */
export class RoomAdmission {
  /** ad-hoc rooms: who may join (the creator and the invited); group rooms follow the group */
  private readonly adHoc = new Map<string, Set<string>>();

  constructor(private readonly lists: ListResolver) {}

  /** A new ad-hoc room at `uri`, for its creator and the users its list invited. */
  openAdHoc(uri: string, aors: string[]): void {
    this.adHoc.set(uri, new Set(aors.map((a) => a.toLowerCase())));
  }

  /** Is `uri` a live ad-hoc room? */
  isAdHoc(uri: string): boolean {
    return this.adHoc.has(uri);
  }

  /** The room at `uri` closed (the last participant left): an ad-hoc room is gone with it. */
  closed(uri: string): void {
    this.adHoc.delete(uri);
  }

  /** The rule of the room at `uri`: its invited if it is a live ad-hoc room, else its group; null when it is neither. */
  async ruleOf(uri: string): Promise<RoomRule | null> {
    const invited = this.adHoc.get(uri);
    if (invited !== undefined) return { invited, group: null };
    const group = await this.lists.groupMembers(uri);
    return group === null ? null : { invited: null, group };
  }

  /** The rule of the room at `uri`, which lets `aor` join it: 404 when there is no such room, 403 when it does not admit them. */
  async admit(uri: string, aor: string): Promise<RoomRule> {
    const rule = await this.ruleOf(uri);
    if (rule === null) throw new SipError(404, 'Not Found');
    if (!admits(rule, aor)) throw new SipError(403, 'Only members may join this room');
    return rule;
  }

  /**
   * Who may watch a room's participants (RFC 4575 §3.5 leaves authorisation to the focus's policy): whoever
   * may join it (an ad-hoc room's creator and invitees, a group's admitted users) and whoever is
   * in it (`live`: the room, if anyone is in it). `unknown`: no room at that URI.
   */
  async mayWatch(uri: string, aor: string, live: { participants: ReadonlySet<Participant> } | undefined): Promise<'yes' | 'no' | 'unknown'> {
    if (live !== undefined && [...live.participants].some((p) => p.aor.toLowerCase() === aor.toLowerCase())) return 'yes';
    const rule = await this.ruleOf(uri);
    if (rule === null) return 'unknown';
    return admits(rule, aor) ? 'yes' : 'no';
  }
}

/** Does a room's rule let `aor` in: the invited of an ad-hoc room, anyone for a public group, members for a private one. */
function admits(rule: RoomRule, aor: string): boolean {
  return rule.invited !== null ? rule.invited.has(aor.toLowerCase()) : groupAdmits(rule.group, aor);
}

/** Does a group's rule let `aor` in: anyone for a public group, members for a private one. */
export function groupAdmits(group: { membersOnly: boolean; members: { uri: string }[] }, aor: string): boolean {
  return !group.membersOnly || group.members.some((m) => m.uri.toLowerCase() === aor.toLowerCase());
}
