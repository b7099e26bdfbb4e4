import type { SipRequest } from '../../sip/message/message.js';
import { SipError } from '../../sip/errors.js';
import { mediaTypeOf } from '../../sip/message/media-type.js';
import { parseXmlBody } from '../../xdms/xml-intake.js';
import type { ListResolver, Member } from '../../xdms/list-resolver.js';
import { parseMultipart } from './multipart.js';

const RL = 'urn:ietf:params:xml:ns:resource-lists';

/** What a MESSAGE to the conference factory carries: the message itself, and whom it is for. */
export interface RecipientList {
  contentType: string;
  payload: Buffer;
  members: Member[];
}

/**
 * Reads an RFC 5365 request (§4, §5): a multipart/mixed body holding the message and an
 * application/resource-lists+xml part with `Content-Disposition: recipient-list`. The list's
 * nested <list>s and <external> references into our XDMS are expanded (RFC 4826 §3.3, S6);
 * entries keep their RFC 5364 copy control (to, cc, bcc, anonymize), which decides what each
 * recipient is shown of the list (copy-control.ts).
 * Anything else is 400 with the reason, or 415 for a body that is not multipart at all.
 */
export async function readRecipientList(req: SipRequest, lists: ListResolver): Promise<RecipientList> {
  const contentType = req.headers.get('content-type') ?? '';
  if (mediaTypeOf(contentType) !== 'multipart/mixed') {
    throw new SipError(415, 'Unsupported Media Type', { Accept: 'multipart/mixed' });
  }
  const parts = parseMultipart(contentType, req.body);
  if (parts === null) throw new SipError(400, 'Malformed multipart body');
  const isList = (p: (typeof parts)[number]): boolean =>
    mediaTypeOf(p.headers.get('content-type')) === 'application/resource-lists+xml' &&
    mediaTypeOf(p.headers.get('content-disposition')) === 'recipient-list';
  const listParts = parts.filter(isList);
  const payloads = parts.filter((p) => !isList(p));
  if (listParts.length !== 1) throw new SipError(400, 'Expected one resource-lists part with Content-Disposition: recipient-list');
  if (payloads.length !== 1) throw new SipError(400, 'Expected one message part beside the URI list');
  let root: { namespaceURI: string | null; localName: string | null } | null;
  try {
    root = parseXmlBody(listParts[0].body).documentElement as typeof root;
  } catch {
    throw new SipError(400, 'URI list is not well-formed XML');
  }
  if (root === null || root.namespaceURI !== RL || root.localName !== 'resource-lists') throw new SipError(400, 'URI list is not a resource-lists document');
  let members: Member[];
  try {
    members = await lists.expand(root as never);
  } catch (err) {
    // the resolver's reference loop: <external>s that lead back to a list being expanded
    if ((err as Error).name === 'ListLoopError') throw new SipError(482, 'Loop Detected: the URI list refers to itself');
    throw err;
  }
  return { contentType: payloads[0].headers.get('content-type') ?? 'text/plain', payload: payloads[0].body, members };
}
