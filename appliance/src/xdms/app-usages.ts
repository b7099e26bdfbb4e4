import type { XmlDocument } from './xml-intake.js';
import { checkResourceLists } from './constraints.js';

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
  /** XSDs a document is validated against (appliance/schemas), the main one first */
  schemas: string[];
  /** documents under global/ that the server generates and users only read */
  global?: (ctx: { domain: string; usages: AppUsage[] }) => string;
}

export const XCAP_CAPS: AppUsage = {
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
  },
  {
    auid: 'rls-services',
    mime: 'application/rls-services+xml',
    namespace: 'urn:ietf:params:xml:ns:rls-services',
    root: 'rls-services',
    xdms: 'shared',
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
];

export function usageOf(auid: string): AppUsage | undefined {
  return APP_USAGES.find((u) => u.auid === auid);
}
