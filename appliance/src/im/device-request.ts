import type { Headers } from '../sip/message/headers.js';
import { SipRequest } from '../sip/message/message.js';
import { parseUri, type Uri } from '../sip/message/uri.js';
import type { Binding } from '../core/location-service.js';

/**
 * Each binding's contact, parsed once: it becomes the Request-URI of every message to that
 * device. Keyed by the binding object, which the location service replaces (never edits) when a
 * REGISTER changes it, so a dropped or replaced binding takes its entry with it. Nothing changes a
 * request's parsed URI after it is built (the stack serialises `uriText`).
 */
const contacts = new WeakMap<Binding, Uri>();

function contactOf(b: Binding): Uri {
  let uri = contacts.get(b);
  if (uri === undefined) {
    uri = parseUri(b.contactUri);
    contacts.set(b, uri);
  }
  return uri;
}

/**
 * A MESSAGE to one registered device, live or pushed from the store: the binding's contact
 * becomes the Request-URI (RFC 3261 §16.6 step 2 for a forwarded request, §10 for one we
 * originate), and the identity we asserted travels in P-Asserted-Identity (RFC 3325 §9.1),
 * replacing whatever the sender claimed there; the sender's Conversation-Store request stays
 * here. The stack adds our Via when it is sent.
 */
export function messageToDevice(b: Binding, headers: Headers, body: Buffer, assertedIdentity: string): SipRequest {
  headers.set('p-asserted-identity', assertedIdentity);
  headers.delete('p-preferred-identity');
  // a request to this server to store the conversation (history/store-header.ts), not the recipient's business
  headers.delete('conversation-store');
  return new SipRequest('MESSAGE', contactOf(b), b.contactUri, headers, body);
}
