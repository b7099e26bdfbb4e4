import type { XmlDocument } from './xml-intake.js';
import { checkResourceLists, checkResourceListsAround } from './constraints.js';

/**
 * The application usages the XDMS serves (RFC 4825 §5, X2). Each names its
 * MIME type, its default document namespace (unprefixed names in node selectors
 * resolve to it), the root element a document must have, and which XDMS holds it
 * (the aggregation proxy routes by AUID: IM XDMS for a user's own documents,
 * shared XDMS for lists and groups others read too).
 */
export interface AppUsage {
  auid: string;
  mime: string;
  namespace: string;
  root: string;
  xdms: 'im' | 'shared';
  /** semantic constraints beyond the schema; throw an XcapError (409) */
  constraints?: (doc: XmlDocument) => void;
  /**
   * The same constraints when they are local: after an element PUT put `element` under `parent`,
   * what the whole-document check would find, for a document that passed it before the edit
   */
  constraintsAround?: (parent: unknown, element: unknown) => void;
  /**
   * An attribute whose values must be unique across every document of this usage on the
   * server (RFC 4826 §4.4.5 for rls-services; OMA group URIs likewise): element and attribute.
   */
  uniqueAcross?: { element: string; attribute: string };
  /** XSDs a document is validated against (appliance/schemas), the main one first */
  schemas: string[];
  /** documents under global/ that the server generates and users only read */
  global?: (ctx: { domain: string; usages: AppUsage[] }) => string;
  /** a per-user document the server generates from the user's other documents (read-only) */
  perUser?: { document: string; build: (docs: { auid: string; path: string; etag: string; updatedAt: number; size: number }[], uriOf: (auid: string, path: string) => string) => string };
  /**
   * A per-user document another part of the server generates live (XcapDeps.views, by AUID):
   * read-only, so PUT and DELETE are 405 with Allow: GET (RFC 9110 §15.5.6)
   */
  view?: { document: string };
}

const XCAP_CAPS: AppUsage = {
  auid: 'xcap-caps',
  mime: 'application/xcap-caps+xml',
  namespace: 'urn:ietf:params:xml:ns:xcap-caps',
  root: 'xcap-caps',
  xdms: 'shared',
  schemas: ['xcap-caps.xsd'],
  // RFC 4825 §12: the global capabilities document lists every auid and namespace we serve
  global: ({ usages }) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<xcap-caps xmlns="urn:ietf:params:xml:ns:xcap-caps">\n` +
    `  <auids>\n${usages.map((u) => `    <auid>${u.auid}</auid>\n`).join('')}  </auids>\n` +
    `  <extensions/>\n` +
    `  <namespaces>\n${[...new Set(usages.map((u) => u.namespace))].map((n) => `    <namespace>${n}</namespace>\n`).join('')}  </namespaces>\n` +
    `</xcap-caps>\n`,
};

export const APP_USAGES: AppUsage[] = [
  XCAP_CAPS,
  {
    auid: 'resource-lists',
    mime: 'application/resource-lists+xml',
    namespace: 'urn:ietf:params:xml:ns:resource-lists',
    root: 'resource-lists',
    xdms: 'shared',
    schemas: ['resource-lists.xsd', 'xml.xsd'],
    constraints: checkResourceLists,
    constraintsAround: checkResourceListsAround,
  },
  {
    auid: 'rls-services',
    mime: 'application/rls-services+xml',
    namespace: 'urn:ietf:params:xml:ns:rls-services',
    root: 'rls-services',
    xdms: 'shared',
    uniqueAcross: { element: 'service', attribute: 'uri' },
    schemas: ['rls-services.xsd', 'resource-lists.xsd', 'xml.xsd'],
  },
  {
    auid: 'pres-rules',
    mime: 'application/auth-policy+xml',
    namespace: 'urn:ietf:params:xml:ns:common-policy',
    root: 'ruleset',
    xdms: 'im',
    schemas: ['pres-rules.xsd', 'common-policy.xsd'],
  },
  {
    // Parley's own usage (no published one covers IM block lists): a common-policy
    // ruleset with <ir:im-handling> actions, kept in the IM XDMS (Y2)
    auid: 'im-access-rules',
    mime: 'application/auth-policy+xml',
    namespace: 'urn:ietf:params:xml:ns:common-policy',
    root: 'ruleset',
    xdms: 'im',
    schemas: ['parley-im-rules.xsd', 'common-policy.xsd'],
  },
  {
    auid: 'org.openmobilealliance.pres-rules',
    mime: 'application/auth-policy+xml',
    namespace: 'urn:ietf:params:xml:ns:common-policy',
    root: 'ruleset',
    xdms: 'im',
    schemas: ['parley-driver-oma-pres-rules.xsd', 'common-policy.xsd', 'pres-rules.xsd', 'xdm_commonPolicy-v1_0.xsd', 'prs_presRules-v1_0.xsd'],
  },
  {
    // RFC 4827: a presence document the user publishes through XCAP (a source for the presence server)
    auid: 'pidf-manipulation',
    mime: 'application/pidf+xml',
    namespace: 'urn:ietf:params:xml:ns:pidf',
    root: 'presence',
    xdms: 'im',
    schemas: ['pidf.xsd', 'xml.xsd'],
  },
  {
    // OMA shared group: group URI, display name, members, max participants, join/invite rules
    auid: 'org.openmobilealliance.groups',
    mime: 'application/vnd.oma.poc.groups+xml',
    namespace: 'urn:oma:xml:poc:list-service',
    root: 'group',
    xdms: 'shared',
    uniqueAcross: { element: 'list-service', attribute: 'uri' },
    schemas: ['parley-driver-oma-groups.xsd', 'resource-lists.xsd', 'common-policy.xsd', 'xdm_commonPolicy-v1_0.xsd', 'parley-poc-list-service.xsd', 'xml.xsd'],
  },
  {
    // Parley's own usage for delivery and storage preferences (parley-im-prefs.xsd)
    auid: 'im-preferences',
    mime: 'application/vnd.parley.im-preferences+xml',
    namespace: 'urn:parley:params:xml:ns:im-prefs',
    root: 'im-preferences',
    xdms: 'im',
    schemas: ['parley-im-prefs.xsd'],
  },
  {
    // Parley's own usage: references to the conversations the server stores for the user (H1)
    auid: 'im-history',
    mime: 'application/vnd.parley.im-history+xml',
    namespace: 'urn:parley:params:xml:ns:im-history',
    root: 'history',
    xdms: 'im',
    schemas: ['parley-im-history.xsd'],
  },
  {
    // Parley's own usage: the user's storage usage and quota (H3), generated from the ledger (read-only)
    auid: 'storage-quota',
    mime: 'application/vnd.parley.storage-quota+xml',
    namespace: 'urn:parley:params:xml:ns:storage-quota',
    root: 'storage-quota',
    xdms: 'im',
    schemas: ['parley-storage-quota.xsd'],
    view: { document: 'index' },
  },
  {
    // OMA XDM: the user's documents with their ETags, generated (read-only)
    auid: 'org.openmobilealliance.xcap-directory',
    mime: 'application/vnd.oma.xcap-directory+xml',
    namespace: 'urn:oma:xml:xdm:xcap-directory',
    root: 'xcap-directory',
    xdms: 'im',
    schemas: ['OMA-SUP-XSD_xdm_xcapDirectory-V1_0_2-20080627-A.xsd', 'xml.xsd'],
    perUser: {
      document: 'directory.xml',
      build: (docs, uriOf) => {
        const byAuid = new Map<string, typeof docs>();
        for (const d of docs) byAuid.set(d.auid, [...(byAuid.get(d.auid) ?? []), d]);
        const folders = [...byAuid]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(
            ([auid, list]) =>
              `  <folder auid="${auid}">\n${list
                .map((d) => `    <entry uri="${uriOf(auid, d.path)}" etag="${d.etag.replace(/"/g, '&quot;')}" last-modified="${new Date(d.updatedAt).toISOString()}" size="${d.size}"/>\n`)
                .join('')}  </folder>\n`,
          )
          .join('');
        return `<?xml version="1.0" encoding="UTF-8"?>\n<xcap-directory xmlns="urn:oma:xml:xdm:xcap-directory">\n${folders}</xcap-directory>\n`;
      },
    },
  },
];

export function usageOf(auid: string): AppUsage | undefined {
  return APP_USAGES.find((u) => u.auid === auid);
}
