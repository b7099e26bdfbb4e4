/** Which transport a provisioned client registers over. */
export type ProvisionedTransport = 'udp' | 'tcp' | 'tls';

/** What a client needs to be set up without typing server names (A6). */
export interface ClientSettings {
  user: string;
  displayName: string | null;
  aor: string;
  domain: string;
  sip: {
    /** the registrar and outbound proxy the client should use, as Linphone writes it */
    proxy: string;
    transport: ProvisionedTransport;
    /** every transport the server listens on, as SIP URIs (RFC 3261 §19.1.2, RFC 7118 §4 for ws/wss) */
    transports: { transport: ProvisionedTransport | 'ws' | 'wss'; uri: string }[];
  };
  xcapRoot: string;
  conferenceFactoryUri: string;
  wsUrl: string | null;
  wssUrl: string | null;
}

/** Where the server can be reached, as the running appliance knows it. */
export interface ServerAddresses {
  domain: string;
  host: string;
  ports: { sip: number; tls: number; ws: number; wss: number };
  xcapRoot: string;
  /** the transport clients are told to use: `auto` picks TLS with a configured certificate, else TCP, else UDP */
  transport: 'auto' | ProvisionedTransport;
  hasIssuedCertificate: boolean;
  /** the conference factory's user part (config `conference.factoryUser`) */
  conferenceFactoryUser: string;
}

/**
 * The user's client settings. No secret goes in: the client authenticated to fetch them and
 * keeps the credentials it used (Linphone stores them as its auth_info).
 */
export function clientSettings(server: ServerAddresses, user: { username: string; displayName: string | null }): ClientSettings {
  const { host, ports, domain } = server;
  const transports: ClientSettings['sip']['transports'] = [];
  if (ports.sip > 0) transports.push({ transport: 'udp', uri: `sip:${host}:${ports.sip};transport=udp` }, { transport: 'tcp', uri: `sip:${host}:${ports.sip};transport=tcp` });
  if (ports.tls > 0) transports.push({ transport: 'tls', uri: `sips:${host}:${ports.tls};transport=tls` });
  if (ports.ws > 0) transports.push({ transport: 'ws', uri: `sip:${host}:${ports.ws};transport=ws` });
  if (ports.wss > 0) transports.push({ transport: 'wss', uri: `sip:${host}:${ports.wss};transport=wss` });
  let transport: ProvisionedTransport;
  if (server.transport !== 'auto') transport = server.transport;
  else transport = ports.tls > 0 && server.hasIssuedCertificate ? 'tls' : ports.sip > 0 ? 'tcp' : 'tls';
  // Linphone writes TLS as sip:…;transport=tls (sips: would ask for TLS on every hop, RFC 5630)
  const port = transport === 'tls' ? ports.tls : ports.sip;
  return {
    user: user.username,
    displayName: user.displayName,
    aor: `sip:${user.username}@${domain}`,
    domain,
    sip: { proxy: `<sip:${host}:${port};transport=${transport}>`, transport, transports },
    xcapRoot: server.xcapRoot,
    // the group-chat conference factory of rooms (OMA CPM / RFC 4579 ad-hoc conference creation)
    conferenceFactoryUri: `sip:${server.conferenceFactoryUser}@${domain}`,
    wsUrl: ports.ws > 0 ? `ws://${host}:${ports.ws}` : null,
    wssUrl: ports.wss > 0 ? `wss://${host}:${ports.wss}` : null,
  };
}

const xml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Linphone's remote provisioning document (lpconfig.xsd: `<config>` of `<section name>` of
 * `<entry name>`): the account as `[proxy_0]`, made the default, and Parley's own URLs in a
 * `[parley]` section that Linphone keeps and ignores.
 */
export function linphoneXml(s: ClientSettings): string {
  const identity = s.displayName ? `"${s.displayName.replace(/["\\]/g, '\\$&')}" <${s.aor}>` : s.aor;
  const section = (name: string, entries: [string, string | number][]): string =>
    `  <section name="${name}">\n${entries.map(([k, v]) => `    <entry name="${k}" overwrite="true">${xml(String(v))}</entry>`).join('\n')}\n  </section>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.linphone.org/xsds/lpconfig.xsd lpconfig.xsd">',
    section('sip', [['default_proxy', 0]]),
    section('proxy_0', [
      ['reg_identity', identity],
      ['reg_proxy', s.sip.proxy],
      ['reg_route', s.sip.proxy],
      ['reg_sendregister', 1],
      ['realm', s.domain],
      ['conference_factory_uri', s.conferenceFactoryUri],
    ]),
    section('parley', [
      ['xcap_root', s.xcapRoot],
      ...(s.wssUrl ? [['wss_url', s.wssUrl] as [string, string]] : []),
      ...(s.wsUrl ? [['ws_url', s.wsUrl] as [string, string]] : []),
    ]),
    '</config>',
    '',
  ].join('\n');
}
