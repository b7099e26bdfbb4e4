import type { RunningAppliance } from './appliance.js';
import type { Call } from './msrp-client.js';
import { xcapRequest } from './xcap-client.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

/** A pre-defined room: one `<list-service>` of the OMA shared groups document. */
export interface GroupRoom {
  /** the user part of the group URI */
  name: string;
  displayName?: string;
  /** members' user parts; with them the room admits its members only, without them anyone of the domain */
  members?: string[];
  maxParticipants?: number;
}

/**
 * Stores `owner`'s groups document with these rooms (OMA list service usage) and checks the 201.
 * A room with members is private (`is-list-member`), one without is open to the whole domain.
 */
export async function putGroupRooms(app: RunningAppliance, owner: string, rooms: GroupRoom[]): Promise<number> {
  const d = app.domain;
  const services = rooms.map((r) => {
    const admits = r.members
      ? '<is-list-member/>'
      : `<cp:identity><cp:many domain="${d}"/></cp:identity>`;
    const rule = `<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy"><cp:rule id="parley-join-${r.name}"><cp:conditions>${admits}</cp:conditions><cp:actions><join-handling>true</join-handling></cp:actions></cp:rule></cp:ruleset>`;
    const list = `<list>${(r.members ?? []).map((n) => `<entry uri="sip:${n}@${d}"/>`).join('')}</list>`;
    const max = r.maxParticipants === undefined ? '' : `<max-participant-count>${r.maxParticipants}</max-participant-count>`;
    const display = r.displayName === undefined ? '' : `<display-name>${r.displayName}</display-name>`;
    return `<list-service uri="sip:${r.name}@${d}">${display}${list}${max}${rule}</list-service>`;
  });
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<group xmlns="urn:oma:xml:poc:list-service">${services.join('\n')}</group>`;
  return (await xcapRequest(app, 'PUT', `org.openmobilealliance.groups/users/sip:${owner}@${d}/index`, { body, headers: { 'Content-Type': 'application/vnd.oma.poc.groups+xml' } })).status;
}

/** Stores `owner`'s im-access-rules blocking `blocked` (Y2); returns the XCAP status. */
export async function putBlock(app: RunningAppliance, owner: string, blocked: string): Promise<number> {
  const d = app.domain;
  const rules = `<?xml version="1.0" encoding="UTF-8"?>
<cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy" xmlns:ir="urn:parley:params:xml:ns:im-rules">
  <cp:rule id="r1"><cp:conditions><cp:identity><cp:one id="sip:${blocked}@${d}"/></cp:identity></cp:conditions><cp:actions><ir:im-handling>block</ir:im-handling></cp:actions></cp:rule>
</cp:ruleset>`;
  return (await xcapRequest(app, 'PUT', `im-access-rules/users/sip:${owner}@${d}/index`, { user: owner, body: rules, headers: { 'Content-Type': 'application/auth-policy+xml' } })).status;
}

/** Collects every message a participant's leg receives, answering each 200 as a client would. */
export function inbox(call: Call): ReceivedMessage[] {
  const got: ReceivedMessage[] = [];
  call.session.onMessage = (m) => {
    m.report(200);
    got.push(m);
  };
  return got;
}
