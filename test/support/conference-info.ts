import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DOMParser, type Element } from '@xmldom/xmldom';
import { ROOT } from './appliance.js';
import { SchemaValidator } from '../../appliance/src/xdms/schema-validator.js';

const NS = 'urn:ietf:params:xml:ns:conference-info';

/** One <endpoint> as a test reads it (RFC 4575). */
export interface EndpointInfo {
  entity: string;
  state: string;
  status: string;
  joiningMethod: string;
  disconnectionMethod: string | null;
  reason: string | null;
  displayText: string | null;
}

/** One <user>. */
export interface UserInfo {
  entity: string;
  state: string;
  displayText: string | null;
  roles: string[];
  endpoints: EndpointInfo[];
}

/** A conference-info document as a test reads it. */
export interface ConferenceInfo {
  entity: string;
  state: string;
  version: number;
  subject: string | null;
  availableMedia: string[];
  userCount: number | null;
  users: UserInfo[];
}

const kids = (e: Element, name: string): Element[] => Array.from(e.childNodes).filter((n): n is Element => n.nodeType === 1 && (n as Element).namespaceURI === NS && (n as Element).localName === name);
const text = (e: Element, name: string): string | null => kids(e, name)[0]?.textContent ?? null;

/** Reads a conference-info body (namespace-aware; throws on XML that is not well-formed). */
export function readConferenceInfo(xml: string): ConferenceInfo {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const root = doc.documentElement!;
  if (root.namespaceURI !== NS || root.localName !== 'conference-info') throw new Error(`not conference-info: ${xml.slice(0, 200)}`);
  const desc = kids(root, 'conference-description')[0];
  const state = kids(root, 'conference-state')[0];
  const users = kids(root, 'users')[0];
  return {
    entity: root.getAttribute('entity') ?? '',
    state: root.getAttribute('state') ?? 'full',
    version: Number(root.getAttribute('version')),
    subject: desc ? text(desc, 'subject') : null,
    availableMedia: desc ? kids(kids(desc, 'available-media')[0] ?? desc, 'entry').map((e) => text(e, 'type') ?? '') : [],
    userCount: state && text(state, 'user-count') !== null ? Number(text(state, 'user-count')) : null,
    users: (users ? kids(users, 'user') : []).map((u) => ({
      entity: u.getAttribute('entity') ?? '',
      state: u.getAttribute('state') ?? 'full',
      displayText: text(u, 'display-text'),
      roles: kids(u, 'roles').flatMap((r) => kids(r, 'entry').map((e) => e.textContent ?? '')),
      endpoints: kids(u, 'endpoint').map((e) => ({
        entity: e.getAttribute('entity') ?? '',
        state: e.getAttribute('state') ?? 'full',
        status: text(e, 'status') ?? '',
        joiningMethod: text(e, 'joining-method') ?? '',
        disconnectionMethod: text(e, 'disconnection-method'),
        reason: kids(e, 'disconnection-info')[0] ? text(kids(e, 'disconnection-info')[0], 'reason') : null,
        displayText: text(e, 'display-text'),
      })),
    })),
  };
}

let validator: SchemaValidator | null = null;

/**
 * Validates a document against the RFC 4575 schema (appliance/schemas/conference-info.xsd) with
 * the appliance's own libxml2 validator, run from appliance/dist. Resolves with libxml2's
 * errors: none for a valid document.
 */
export async function conferenceInfoErrors(xml: string): Promise<string[]> {
  validator ??= new SchemaValidator({ spawn: () => new Worker(path.join(ROOT, 'appliance/dist/xdms/schema-validator-worker.js')) });
  const result = await validator.validate(xml, ['conference-info.xsd', 'xml.xsd']);
  return result.errors.length > 0 || !result.valid ? ['invalid', ...result.errors] : [];
}

export async function closeConferenceInfoValidator(): Promise<void> {
  await validator?.close();
  validator = null;
}
