import { DOMParser } from '@xmldom/xmldom';

/** The notification types of RFC 5438 §5 and the statuses its <status> element (§11.1.7) allows for each. */
export const STATUSES = {
  delivery: ['delivered', 'failed', 'forbidden', 'error'],
  display: ['displayed', 'forbidden', 'error'],
  processing: ['processed', 'stored', 'forbidden', 'error'],
} as const;

export type NotificationKind = keyof typeof STATUSES;

/** One IMDN document (message/imdn+xml, RFC 5438 §11). */
export interface ImdnDocument {
  /** the Message-ID of the IM it reports on */
  messageId: string;
  /** the IM's DateTime */
  dateTime: string;
  /** who the IM reached (RFC 5438 §11.1.3), when an intermediary says so */
  recipientUri?: string;
  /** the IM's To (RFC 5438 §11.1.4) */
  originalRecipientUri?: string;
  kind: NotificationKind;
  status: string;
}

/** The IMDN namespace of the XML document (RFC 5438 §11.1). */
const XML_NS = 'urn:ietf:params:xml:ns:imdn';

const escape = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Writes an IMDN document (RFC 5438 §11.1: message-id, datetime, the recipient URIs, one notification). */
export function buildImdnXml(d: ImdnDocument): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<imdn xmlns="${XML_NS}">` +
    `<message-id>${escape(d.messageId)}</message-id><datetime>${escape(d.dateTime)}</datetime>` +
    (d.recipientUri === undefined ? '' : `<recipient-uri>${escape(d.recipientUri)}</recipient-uri>`) +
    (d.originalRecipientUri === undefined ? '' : `<original-recipient-uri>${escape(d.originalRecipientUri)}</original-recipient-uri>`) +
    `<${d.kind}-notification><status><${d.status}/></status></${d.kind}-notification></imdn>`
  );
}

/**
 * Reads an IMDN document; null when it is not one: not well-formed, another root, no
 * message-id or datetime, or no notification with a status the schema allows.
 */
export function parseImdnXml(xml: string): ImdnDocument | null {
  let bad = false;
  let root;
  try {
    root = new DOMParser({ onError: (level: string) => void (level !== 'warning' && (bad = true)) }).parseFromString(xml, 'text/xml').documentElement;
  } catch {
    return null; // xmldom throws on a fatal error (an unclosed tag)
  }
  if (bad || root === null || root.localName !== 'imdn' || root.namespaceURI !== XML_NS) return null;
  const text = (name: string): string | undefined => {
    const el = root.getElementsByTagNameNS(XML_NS, name)[0];
    return el ? (el.textContent ?? '').trim() : undefined;
  };
  const messageId = text('message-id');
  const dateTime = text('datetime');
  if (!messageId || !dateTime) return null;
  for (const kind of Object.keys(STATUSES) as NotificationKind[]) {
    const n = root.getElementsByTagNameNS(XML_NS, `${kind}-notification`)[0];
    const status = n?.getElementsByTagNameNS(XML_NS, 'status')[0];
    if (!status) continue;
    const value = Array.from(status.childNodes).find((c) => c.nodeType === 1);
    const name = value === undefined ? undefined : (value as unknown as { localName: string }).localName;
    if (name === undefined || !(STATUSES[kind] as readonly string[]).includes(name)) return null;
    const recipientUri = text('recipient-uri');
    const originalRecipientUri = text('original-recipient-uri');
    return { messageId, dateTime, kind, status: name, ...(recipientUri ? { recipientUri } : {}), ...(originalRecipientUri ? { originalRecipientUri } : {}) };
  }
  return null;
}
