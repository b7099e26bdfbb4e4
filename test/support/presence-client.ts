import { RawClient, buildRequest, headerOf } from './raw-client.js';
import { authorize } from './digest-client.js';
import type { RunningAppliance } from './appliance.js';
import { xcapRequest } from './xcap-client.js';

/** A PIDF document for `user`: tuples (id -> basic status) and, optionally, an RPID activity and a note on the person. */
export function pidf(domain: string, user: string, o: { tuples?: Record<string, 'open' | 'closed'>; activity?: string; personNote?: string; personId?: string }): string {
  const tuples = Object.entries(o.tuples ?? {})
    .map(([id, basic]) => `<tuple id="${id}"><status><basic>${basic}</basic></status></tuple>`)
    .join('');
  const person =
    o.activity || o.personNote
      ? `<dm:person id="${o.personId ?? 'p1'}">${o.activity ? `<rpid:activities><rpid:${o.activity}/></rpid:activities>` : ''}${o.personNote ? `<dm:note>${o.personNote}</dm:note>` : ''}</dm:person>`
      : '';
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" ` +
    `xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:${user}@${domain}">${tuples}${person}</presence>`
  );
}

export interface PublishSpec {
  body?: string;
  contentType?: string;
  ifMatch?: string;
  expires?: number;
  event?: string;
  /** whose presentity (default: the publisher's own) */
  target?: string;
}

/**
 * A device publishing presence (RFC 3903) through the 407 challenge; returns the final response.
 * Each PUBLISH is its own transaction outside any dialog, as RFC 3903 §4 has it.
 */
export async function publish(app: RunningAppliance, user: string, spec: PublishSpec): Promise<string> {
  const c = await RawClient.udp(app.sipPort);
  try {
    const uri = `sip:${spec.target ?? user}@${app.domain}`;
    const headers = [
      `Event: ${spec.event ?? 'presence'}`,
      ...(spec.expires !== undefined ? [`Expires: ${spec.expires}`] : []),
      ...(spec.ifMatch ? [`SIP-If-Match: ${spec.ifMatch}`] : []),
    ];
    const base = { method: 'PUBLISH', uri, from: `sip:${user}@${app.domain}`, to: uri, transport: 'UDP' as const, localPort: c.localPort, body: spec.body, callId: `pub-${Math.random().toString(36).slice(2)}` };
    const typed = (text: string) => (spec.body ? text.replace('Content-Type: text/plain', `Content-Type: ${spec.contentType ?? 'application/pidf+xml'}`) : text);
    const first = await c.request(typed(buildRequest({ ...base, cseq: 1, headers })));
    if (!first.startsWith('SIP/2.0 407')) return first;
    const authz = authorize(headerOf(first, 'Proxy-Authenticate')[0], { method: 'PUBLISH', uri, username: user, password: `${user}-pw` });
    return await c.request(typed(buildRequest({ ...base, cseq: 2, headers: [...headers, `Proxy-Authorization: ${authz}`] })));
  } finally {
    c.close();
  }
}

/** A pres-rules document (RFC 5025): one rule per entry, giving that watcher a sub-handling and, for allow, everything. */
export function presRules(rules: { id: string; watcher?: string; handling: 'allow' | 'block' | 'confirm' | 'polite-block' }[]): string {
  const all =
    '<cr:transformations><pr:provide-services><pr:all-services/></pr:provide-services><pr:provide-persons><pr:all-persons/></pr:provide-persons>' +
    '<pr:provide-devices><pr:all-devices/></pr:provide-devices><pr:provide-all-attributes/></cr:transformations>';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<cr:ruleset xmlns:cr="urn:ietf:params:xml:ns:common-policy" xmlns:pr="urn:ietf:params:xml:ns:pres-rules">' +
    rules
      .map(
        (r) =>
          `<cr:rule id="${r.id}"><cr:conditions>${r.watcher ? `<cr:identity><cr:one id="${r.watcher}"/></cr:identity>` : ''}</cr:conditions>` +
          `<cr:actions><pr:sub-handling>${r.handling}</pr:sub-handling></cr:actions>${r.handling === 'allow' ? all : ''}</cr:rule>`,
      )
      .join('') +
    '</cr:ruleset>'
  );
}

/** Writes a user's pres-rules over XCAP, as their client would (accepting or blocking a watcher). */
export async function putPresRules(app: RunningAppliance, user: string, xml: string): Promise<number> {
  const res = await xcapRequest(app, 'PUT', `pres-rules/users/sip:${user}@${app.domain}/index`, { user, body: xml, headers: { 'Content-Type': 'application/auth-policy+xml' } });
  await res.arrayBuffer();
  return res.status;
}
