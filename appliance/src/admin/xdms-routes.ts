import type { Group } from '@parley/shared';
import type { LocalDomain } from '../core/local-domain.js';
import type { UserDirectory } from '../core/user-directory.js';
import { parseUri } from '../sip/message/uri.js';
import { checkPreconditions, type DocumentKey, type DocumentStore } from '../xdms/document-store.js';
import { usageOf } from '../xdms/app-usages.js';
import { keyText } from '../xdms/xcap-context.js';
import { checkAndStore, type WriteServices } from '../xdms/xcap-write.js';
import type { KeyedMutex } from '../util/keyed-mutex.js';
import type { XmlDocument } from '../xdms/xml-intake.js';
import { ACCESS_RULES_AUID } from '../im/participating/terminating-policy.js';
import type { ApiRequest, Handlers } from './admin-api.js';
import { ApiError } from './api-error.js';
import { putBlocked, putGroup, readBlocked, readGroups, removeGroup, serialize } from './group-documents.js';

const GROUPS_AUID = 'org.openmobilealliance.groups';

export interface XdmsRouteDeps {
  store: DocumentStore;
  /** the XCAP server's write path: the same validation, uniqueness and change notifications */
  writes: WriteServices;
  /** the XCAP server's per-document mutex */
  edits: KeyedMutex;
  domain: LocalDomain;
  users: UserDirectory;
}

/** Every URI must parse as a URI (the schema checked only its shape); the field names the first bad one. */
function checkUris(uris: string[], field: string): void {
  uris.forEach((u, i) => {
    try {
      parseUri(u, 'URI');
    } catch (err) {
      throw new ApiError(400, 'invalid_value', `${field}.${i}: ${(err as Error).message}`, `${field}.${i}`);
    }
  });
}

/**
 * Groups and block lists (issue 8, point 4): the user's XDMS documents themselves,
 * `org.openmobilealliance.groups/…/index` and `im-access-rules/…/index`, edited through the same
 * write path as XCAP (XSD, uniqueness of group URIs, ETags, xcap-diff notifications) under the
 * same per-document mutex. No second copy: what a client changes over XCAP shows here, and the
 * other way round. `If-Match` is honoured (412 `stale_etag` when the document moved on).
 */
export function xdmsRoutes(d: XdmsRouteDeps): Pick<Handlers, 'listGroups' | 'getGroup' | 'putGroup' | 'deleteGroup' | 'getBlocked' | 'putBlocked'> {
  const keyOf = (auid: string, user: string): DocumentKey => ({ auid, owner: d.domain.aor(user), path: 'index' });
  const nameOf = (uri: string): string => {
    const at = uri.indexOf('@');
    return /^sips?:/i.test(uri) && at > 0 && d.domain.isLocal(uri.slice(at + 1)) ? uri.slice(uri.indexOf(':') + 1, at).toLowerCase() : uri;
  };
  const groupUri = (group: string) => `sip:${group}@${d.domain.name}`;
  const mustExist = (user: string) => {
    if (d.users.get(user) === undefined) throw new ApiError(404, 'not_found', `no such user '${user}'`);
  };
  /** The stored document and its ETag (set on the response), or null. */
  const load = async (req: ApiRequest, key: DocumentKey) => {
    const row = await d.store.get(key);
    if (row) req.ctx.set('ETag', row.etag);
    return row;
  };
  /** Read-modify-write under the document's mutex, with the request's If-Match checked first. */
  const edit = (req: ApiRequest, key: DocumentKey, change: (xml: string | null) => XmlDocument | null | 'absent') =>
    d.edits.run(keyText(key), async () => {
      const row = await d.store.get(key);
      const ifMatch = req.ctx.get('if-match') || undefined;
      checkPreconditions({ ifMatch }, row?.etag ?? null, false);
      const next = change(row?.content ?? null);
      if (next === 'absent') return 'absent' as const;
      if (next === null) {
        if (row) await d.store.delete(key, { ifMatch: row.etag });
        return null;
      }
      const text = serialize(next);
      const stored = await checkAndStore(d.writes, usageOf(key.auid)!, key, text, next, row ? { ifMatch: row.etag } : { ifNoneMatch: '*' });
      req.ctx.set('ETag', stored.etag);
      return text;
    });

  return {
    async listGroups(req) {
      mustExist(req.params.name);
      const row = await load(req, keyOf(GROUPS_AUID, req.params.name));
      return { items: readGroups(row?.content ?? null, nameOf) };
    },
    async getGroup(req) {
      mustExist(req.params.name);
      const row = await load(req, keyOf(GROUPS_AUID, req.params.name));
      const g = readGroups(row?.content ?? null, nameOf).find((x) => x.name === req.params.group);
      if (!g) throw new ApiError(404, 'not_found', `no group '${req.params.group}' of ${req.params.name}`);
      return g;
    },
    async putGroup(req) {
      const { name, group } = req.params;
      mustExist(name);
      // the group URI sip:<group>@<domain> must not be a user's address
      if (d.users.get(group) !== undefined) throw new ApiError(409, 'name_taken', `'${group}' is a user's name; choose another group name`, 'group');
      checkUris(req.body.members, 'members');
      const g: Omit<Group, 'name'> = { uri: groupUri(group), displayName: req.body.displayName, visibility: req.body.visibility, maxParticipants: req.body.maxParticipants, members: req.body.members };
      const before = readGroups((await d.store.get(keyOf(GROUPS_AUID, name)))?.content ?? null, nameOf).find((x) => x.name === group) ?? null;
      const text = await edit(req, keyOf(GROUPS_AUID, name), (xml) => putGroup(xml, g, d.domain.name));
      const after = readGroups(text as string, nameOf).find((x) => x.name === group)!;
      await req.audit(before ? 'group.update' : 'group.create', `${name}/${group}`, before, after);
      return after;
    },
    async deleteGroup(req) {
      const { name, group } = req.params;
      mustExist(name);
      const key = keyOf(GROUPS_AUID, name);
      const before = readGroups((await d.store.get(key))?.content ?? null, nameOf).find((x) => x.name === group) ?? null;
      const out = await edit(req, key, (xml) => (xml === null ? 'absent' : removeGroup(xml, groupUri(group))));
      if (out === 'absent' || before === null) throw new ApiError(404, 'not_found', `no group '${group}' of ${name}`);
      await req.audit('group.delete', `${name}/${group}`, before, null);
    },
    async getBlocked(req) {
      mustExist(req.params.name);
      const row = await load(req, keyOf(ACCESS_RULES_AUID, req.params.name));
      return { senders: readBlocked(row?.content ?? null) };
    },
    async putBlocked(req) {
      const { name } = req.params;
      mustExist(name);
      checkUris(req.body.senders, 'senders');
      const key = keyOf(ACCESS_RULES_AUID, name);
      const before = readBlocked((await d.store.get(key))?.content ?? null);
      const text = await edit(req, key, (xml) => putBlocked(xml, req.body.senders));
      const after = readBlocked(text as string);
      await req.audit('blocked.update', name, { senders: before }, { senders: after });
      return { senders: after };
    },
  };
}
