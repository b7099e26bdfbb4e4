import type { ConversationRow } from '../store/entities.js';
import type { ConversationChanges } from './conversation-store.js';
import { childElements } from '../xdms/dom.js';
import { conflict, escapeAttr, escapeText } from '../xdms/xcap-error.js';
import type { XmlDocument } from '../xdms/xml-intake.js';

/** The im-history usage's namespace (appliance/schemas/parley-im-history.xsd). */
export const HISTORY_NS = 'urn:parley:params:xml:ns:im-history';

/** The one document of the usage in each user's tree. */
export const HISTORY_DOCUMENT = 'index';

/**
 * The im-history document of one user (H1, seed 5.3.3): one `<conversation>` per stored
 * conversation, oldest first, with everything the server keeps about it. Generated from the
 * store on every read, so its strong ETag changes whenever any of it does (a new conversation,
 * a new message, a rename, a deletion).
 *
 * @example
 * <conversation id="k3J…" name="Chat with bob@example.com" kind="pager" recording="true"
 *   started="2026-11-25T10:00:00.000Z" last="2026-11-25T10:05:12.345Z" messages="12" bytes="873"
 *   uri="sip:history-k3J…@example.com"><peer>sip:bob@example.com</peer></conversation>
 */
export function renderHistory(rows: ConversationRow[], replayUri: (publicId: string) => string): string {
  const sorted = [...rows].sort((a, b) => a.id - b.id);
  const items = sorted.map((c) => {
    const peers = (JSON.parse(c.peers) as string[]).map((p) => `<peer>${escapeText(p)}</peer>`).join('');
    const attrs = [
      ['id', c.publicId],
      ...(c.name === '' ? [] : [['name', c.name]]),
      ['kind', c.kind],
      ['recording', String(c.recording)],
      ['started', iso(c.firstAt || c.createdAt)],
      ...(c.messageCount > 0 ? [['last', iso(c.lastAt)]] : []),
      ['messages', String(c.messageCount)],
      ['bytes', String(c.bytes)],
      ['uri', replayUri(c.publicId)],
    ];
    return `  <conversation${attrs.map(([k, v]) => ` ${k}="${escapeAttr(v)}"`).join('')}>${peers}</conversation>\n`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<history xmlns="${HISTORY_NS}">\n${items.join('')}</history>\n`;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** A `<conversation>` as a client left it: its id, name, resave-of, recording, and everything else as one comparable text. */
interface Entry {
  id: string | null;
  name: string;
  resaveOf: string | null;
  recording: string | null;
  /** the other attributes and the children, in a canonical form: what the client may not change */
  fixed: string;
}

type El = Element & { attributes: ArrayLike<Attr> };

function entriesOf(doc: XmlDocument): Entry[] {
  const root = doc.documentElement as unknown as El;
  return childElements(root as never).map((node) => {
    const el = node as unknown as El;
    const attr = (n: string): string | null => (el.hasAttribute(n) ? el.getAttribute(n) : null);
    const rest: string[] = [];
    for (let i = 0; i < el.attributes.length; i++) {
      const a = el.attributes[i];
      if (a.name === 'xmlns' || a.name.startsWith('xmlns:')) continue;
      if (a.namespaceURI === null && ['id', 'name', 'resave-of', 'recording'].includes(a.localName)) continue;
      rest.push(`@{${a.namespaceURI ?? ''}}${a.localName}=${a.value}`);
    }
    rest.sort();
    for (const child of childElements(el as never)) {
      const c = child as unknown as Element;
      rest.push(`<{${c.namespaceURI ?? ''}}${c.localName}>${(c.textContent ?? '').trim()}`);
    }
    return { id: attr('id'), name: attr('name') ?? '', resaveOf: attr('resave-of'), recording: attr('recording'), fixed: rest.join('\n') };
  });
}

/**
 * What turning the document `before` (as the server generated it) into `after` (as the client
 * edited it, already schema-valid) asks of the store. Only the owner's own decisions are
 * changes: a conversation missing from `after` is deleted, a changed name renames it,
 * recording="true" → "false" stops it, and a new `<conversation resave-of="ID" name="…"/>` (no
 * id, nothing else) re-saves a copy of ID under that name. Anything else is refused with RFC 4825
 * §11's 409: a new conversation that is not a re-save is `<cannot-insert>` (conversations are
 * made by storing messages), a made-up id or a change to what the server keeps (kind, times,
 * counts, size, peers, uri, restarting a recording) is `<constraint-failure>`.
 *
 * A re-save departs from RFC 4825 §8.2.5 on purpose: the server, not the client, names the copy
 * (ids are unguessable), so the stored element has an `id` and no `resave-of`, and the request
 * URI does not select it afterwards. The 201 says where it is instead (`Location`, RFC 9110
 * §10.2.2), and the document shows it.
 */
export function diffHistory(before: XmlDocument, after: XmlDocument): ConversationChanges {
  const old = new Map(entriesOf(before).map((e) => [e.id!, e]));
  const changes: ConversationChanges = { remove: [], rename: [], stop: [], copy: [] };
  const kept = new Set<string>();
  for (const e of entriesOf(after)) {
    if (e.resaveOf !== null) {
      if (e.id !== null) throw conflict('constraint-failure', 'a re-saved conversation gets its id from the server: resave-of and id cannot go together');
      if (!old.has(e.resaveOf)) throw conflict('constraint-failure', `resave-of names no stored conversation: ${e.resaveOf}`);
      if (e.fixed !== '' || e.recording !== null) throw conflict('constraint-failure', 'a re-save is <conversation resave-of="ID" name="…"/>: the server fills in the rest');
      changes.copy.push({ of: e.resaveOf, name: e.name === '' ? old.get(e.resaveOf)!.name : e.name });
      continue;
    }
    if (e.id === null) throw conflict('cannot-insert', 'conversations are made by storing messages; re-save one with resave-of="ID"');
    const was = old.get(e.id);
    if (was === undefined) throw conflict('constraint-failure', `no stored conversation has the id ${e.id}`);
    kept.add(e.id);
    if (e.fixed !== was.fixed) throw conflict('constraint-failure', `only the name of conversation ${e.id} can be changed (and its recording stopped)`);
    if (e.recording !== was.recording) {
      if (was.recording === 'true' && e.recording === 'false') changes.stop.push(e.id);
      else throw conflict('constraint-failure', `recording of conversation ${e.id} can only go from true to false`);
    }
    if (e.name !== was.name) changes.rename.push({ publicId: e.id, name: e.name });
  }
  for (const id of old.keys()) if (!kept.has(id)) changes.remove.push(id);
  return changes;
}

/** What of the owner's conversations an edit is worked out from: ids, names and recording state. */
export function editableState(rows: ConversationRow[]): string {
  return canonical(rows.map((r) => [r.publicId, r.name, String(r.recording)]));
}

/** {@link editableState} of a generated document. */
export function editableStateOf(doc: XmlDocument): string {
  return canonical(entriesOf(doc).map((e) => [e.id ?? '', e.name, e.recording ?? '']));
}

const canonical = (items: string[][]): string =>
  items
    .map((i) => JSON.stringify(i))
    .sort()
    .join('\n');
