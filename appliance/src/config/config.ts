import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** A regular expression, checked when the config is read. */
const regex = z.string().refine((v) => {
  try {
    new RegExp(v);
    return true;
  } catch {
    return false;
  }
}, 'not a valid regular expression');

/** A listening port: a number (0 = not opened), or "auto" for any free one (reported at start-up and in /health). */
const port = z.union([z.number().int().min(0).max(65535), z.literal('auto')]);
export type PortSetting = z.infer<typeof port>;

/**
 * The whole configuration, with the defaults that make `npm start` work out
 * of the box. Every key is documented in the README's configuration reference.
 */
export const ConfigSchema = z
  .object({
    domain: z.string().min(1).default('localhost'),
    dataDir: z.string().min(1).default('./data'),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        traceSip: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    sip: z
      .object({
        bind: z.string().default('0.0.0.0'),
        advertisedHost: z.string().optional(),
        /** answer every UDP request at its source port, as if it had rport (RFC 3581; NAT-friendly) */
        forceRport: z.boolean().default(true),
        /** Server on our responses and User-Agent on requests we originate; '' for none (default Parley/<version>) */
        userAgent: z.string().max(200).regex(/^[^\r\n]*$/, 'one line').optional(),
        port: port.default(5060),
        tlsPort: port.default(5061),
        wsPort: port.default(5066),
        /** SIP over secure WebSocket (RFC 7118 §5), with the TLS credentials; 7443 as FreeSWITCH */
        wssPort: port.default(7443),
        /** TLS: our certificate (TLS and WSS listeners) and how the connections we open are checked */
        tls: z
          .object({
            /** PEM certificate (chain) and key; default: a self-signed pair in dataDir/tls */
            cert: z.string().min(1).optional(),
            key: z.string().min(1).optional(),
            /** PEM file of extra CAs trusted for outbound TLS, on top of the system store and Node's roots */
            ca: z.string().min(1).optional(),
            /** check the certificate of every peer we connect to; false only for devices with self-signed ones */
            verifyPeer: z.boolean().default(true),
          })
          .strict()
          .refine((t) => (t.cert === undefined) === (t.key === undefined), 'cert and key go together: give both or neither')
          .prefault({}),
        /** TCP, TLS, WS and WSS connections (README: configuration) */
        connections: z
          .object({
            /** seconds without traffic before a connection that carries no registration or subscription is closed */
            idleTimeout: z.number().int().min(1).default(120),
            /** seconds from a message's first byte to its last (Kamailio's tcp_msg_read_timeout) */
            messageTimeout: z.number().int().min(1).default(10),
            /** incoming connections from one IP address (raise it for many clients behind one NAT) */
            maxPerSource: z.number().int().min(1).default(100),
            /** incoming connections in all */
            max: z.number().int().min(1).default(10_000),
          })
          .strict()
          .prefault({}),
        overload: z
          .object({
            /**
             * ms requests may queue unread before new work is refused with 503; 0 = never. A relayed
             * request's answer queues twice (the request, then the device's response), so twice this
             * stays under T1 and clients do not retransmit (RFC 3261 §17.1.2.2)
             */
            maxQueueDelay: z.number().min(0).default(100),
            retryAfter: z.number().int().min(1).default(5),
          })
          .strict()
          .prefault({}),
        /**
         * which socket carries UDP: 'native' (built by npm run build with a C compiler: reads and
         * sends in batches and answers overload refusals itself, ~a third cheaper each), 'node'
         * (node's dgram), or 'auto', the native one where it was built
         */
        udpEngine: z.enum(['auto', 'native', 'node']).default('auto'),
        maxMessageBytes: z.number().int().min(1024).max(1_048_576).default(65535),
        maxBodyBytes: z.number().int().min(0).max(1_048_576).default(32768),
        timers: z
          .object({ T1: z.number().int().positive().default(500), T2: z.number().int().positive().default(4000), T4: z.number().int().positive().default(5000) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        bind: z.string().optional(),
        port: port.default(8080),
        /** the built admin console served at /console (default: console/dist of this installation) */
        consoleDir: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    /** GET /metrics (OpenMetrics) on its own listener; loopback unless opened on purpose (0 = off) */
    metrics: z.object({ bind: z.string().default('127.0.0.1'), port: port.default(9464) }).strict().prefault({}),
    /** GET /provisioning/<user>: the transport clients are told to register over */
    provisioning: z.object({ transport: z.enum(['auto', 'udp', 'tcp', 'tls']).default('auto') }).strict().prefault({}),
    registrar: z
      .object({
        minExpires: z.number().int().min(1).default(60),
        maxExpires: z.number().int().min(1).default(3600),
        defaultExpires: z.number().int().min(1).default(3600),
        maxContactsPerUser: z.number().int().min(1).default(10),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /** accepted, most preferred first (RFC 8760 §2.4) */
        algorithms: z.array(z.enum(['SHA-256', 'MD5'])).min(1).default(['SHA-256', 'MD5']),
        /** User-Agent patterns (regular expressions) of clients offered every algorithm; the rest get MD5 alone */
        offerAllTo: z.array(regex).default(['^Linphone', 'belle-sip', '^Parley/']),
        nonceLifetime: z.number().int().min(5).default(300),
        /**
         * nonces whose counts are remembered (replay protection): the last this many made, challenges
         * answered or not, 12 bytes each, allocated at start; a million lasts the 300 s lifetime at
         * 3,300 challenges/s
         */
        maxTrackedNonces: z.number().int().min(1000).max(10_000_000).default(1_000_000),
        throttle: z
          .object({
            window: z.number().int().min(1).default(300),
            perSourceAndUser: z.number().int().min(1).default(5),
            perSource: z.number().int().min(1).default(30),
            perUser: z.number().int().min(1).default(100),
            blockFor: z.number().int().min(1).default(30),
            maxBlock: z.number().int().min(1).default(900),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        /** seconds a console session lasts at most, however busy (README: Admin API) */
        sessionLifetime: z.number().int().min(60).default(8 * 3600),
        /** seconds without a request after which a console session ends */
        idleTimeout: z.number().int().min(60).default(30 * 60),
        /** failed console logins: the same counters as SIP/HTTP digest (core/login-throttle.ts), stricter defaults */
        throttle: z
          .object({
            window: z.number().int().min(1).default(900),
            perSourceAndUser: z.number().int().min(1).default(5),
            perSource: z.number().int().min(1).default(20),
            perUser: z.number().int().min(1).default(20),
            blockFor: z.number().int().min(1).default(60),
            maxBlock: z.number().int().min(1).default(3600),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    subscriptions: z
      .object({
        minExpires: z.number().int().min(1).default(60),
        maxExpires: z.number().int().min(1).default(3600),
        defaultExpires: z.number().int().min(1).default(3600),
        /** subscriptions one user may hold per event package */
        maxPerUser: z.number().int().min(1).default(20),
        /** least ms between two NOTIFYs of one subscription for changes of state (RFC 3856 §6.4: 5 s for presence) */
        minNotifyInterval: z.number().int().min(0).default(5000),
        /** SUBSCRIBEs per subscriber: a burst, then a steady rate per second (503 + Retry-After past it) */
        rate: z
          .object({ burst: z.number().int().min(1).default(50), perSecond: z.number().min(0.01).default(10) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    presence: z
      .object({
        /** PUBLISH intervals (RFC 3903 §6: 423 with Min-Expires below the minimum) */
        minExpires: z.number().int().min(1).default(60),
        maxExpires: z.number().int().min(1).default(3600),
        defaultExpires: z.number().int().min(1).default(3600),
        /** larger PIDF bodies get 413 */
        maxBodyBytes: z.number().int().min(256).max(1_048_576).default(16_384),
        /** publications (devices) one presentity may have at once (403 past it) */
        maxPublicationsPerUser: z.number().int().min(1).default(20),
      })
      .strict()
      .prefault({}),
    imdn: z
      .object({
        /** seconds the exploder collects recipients' notifications of one kind before an aggregate goes to the sender (RFC 5438 §8.3) */
        aggregationWindow: z.number().int().min(1).default(10),
        /** seconds the exploder keeps an exploded message's recipients for notifications still to come */
        stateTtl: z.number().int().min(1).default(7 * 86400),
      })
      .strict()
      .prefault({}),
    deferred: z
      .object({
        /** seconds a stored message is kept before it expires (default 30 days) */
        retention: z.number().int().min(1).default(30 * 86400),
        /** seconds between sweeps that remove expired messages (and send their negative IMDNs) */
        sweepInterval: z.number().int().min(1).default(60),
        retryMin: z.number().int().min(1).default(5),
        retryMax: z.number().int().min(1).default(600),
        maxPerUser: z.number().int().min(1).default(10_000),
        /** of a recipient's stored messages, how many may come from one sender */
        maxPerSender: z.number().int().min(1).default(1_000),
        /** Retry-After (seconds) sent with 480 when a store, or a sender's share of it, is full */
        retryAfterWhenFull: z.number().int().min(1).default(3600),
      })
      .strict()
      .prefault({}),
    msrp: z
      .object({
        /** MSRP over TCP (RFC 4975): the port clients connect to for session-mode IM; 2855 is msrp's registered port */
        port: port.default(2855),
        /** MSRP over TLS (msrps:, RFC 4975 §14) with the SIP TLS credentials; 0 = not opened */
        tlsPort: port.default(0),
        /** the largest message we take (our SDP a=max-size, RFC 4975 §8.6); larger ones get 413 */
        maxMessageBytes: z.number().int().min(1024).max(256 * 2 ** 20).default(16 * 2 ** 20),
        /** the size of the chunks we send (RFC 4975 §7.1.1: small chunks let other messages interleave) */
        chunkBytes: z.number().int().min(256).max(2 ** 20).default(16 * 1024),
        /** the largest chunk a peer may send us; a larger one is dropped and answered 413 */
        maxChunkBytes: z.number().int().min(1024).max(64 * 2 ** 20).default(2 ** 20),
        /** ms a SEND waits for its response before it counts as failed (RFC 4975 §7.3.1 suggests 30 s) */
        transactionTimeout: z.number().int().min(100).default(30_000),
      })
      .strict()
      .prefault({}),
    sessions: z
      .object({
        /**
         * one-to-one sessions: "switch" terminates both MSRP legs here (history, deferred delivery);
         * "passthrough" relays the SDP untouched so the clients connect to each other (S7)
         */
        media: z.enum(['switch', 'passthrough']).default('switch'),
        /** seconds an INVITE may ring before it is cancelled and the caller gets 480 */
        ringTimeout: z.number().int().min(5).default(60),
      })
      .strict()
      .prefault({}),
    conference: z
      .object({
        /**
         * user part of the conference factory URI (sip:<factoryUser>@<domain>): the URI-list
         * service that takes RFC 5365 MESSAGEs (and, later, RFC 5366 INVITEs); not a user name
         */
        factoryUser: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, . _ -').default('conf-factory'),
        /** recipients one list or group request may reach after expansion; more is 403 */
        maxRecipients: z.number().int().min(1).max(10_000).default(500),
        /** messages waiting on one room participant's MSRP leg before they are dropped (S5) */
        maxQueuePerLeg: z.number().int().min(1).max(100_000).default(1000),
        /** the operator's cap on participants in any one room (a group's max-participant-count can only lower it); past it 486 */
        maxParticipants: z.number().int().min(2).max(10_000).default(500),
      })
      .strict()
      .prefault({}),
    history: z
      .object({
        /** site policy: store every user's pager conversations, sessions and rooms, asked or not (H1) */
        storeAll: z.boolean().default(false),
        /**
         * index the words of stored text messages for the console's keyword search (SQLite FTS5);
         * the bodies stay sealed, but the index holds their words: off for sites where that is too much
         */
        keywordIndex: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    usage: z
      .object({
        /** usage (charging) records, C5: how long a record may wait in memory to share a commit with others, ms */
        flushMs: z.number().int().min(10).max(60_000).default(1000),
        /** records that are committed at once without waiting for flushMs */
        maxBatch: z.number().int().min(1).max(100_000).default(1000),
      })
      .strict()
      .prefault({}),
    quota: z
      .object({
        /** bytes of stored conversations plus deferred messages each user may keep, unless given their own quota (H3); 100 MiB */
        defaultBytes: z.number().int().min(0).default(100 * 2 ** 20),
        /** percent thresholds at which a user is warned once (a MESSAGE and the XCAP quota document); 100 is always the last */
        warnAt: z
          .array(z.number().int().min(1).max(99))
          .max(10)
          .refine((a) => a.every((v, i) => i === 0 || v > a[i - 1]), 'ascending, no repeats')
          .default([80, 95]),
        /** user part of the service's own identity the warnings come from (sip:<serviceUser>@<domain>); not a user name */
        serviceUser: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, . _ -').default('storage'),
      })
      .strict()
      .prefault({}),
    /** the default service profile (Y1, Y3); the admin API and `parley user profile` override it per user */
    profile: z
      .object({
        /** pager MESSAGEs and one-to-one sessions; without, 403 both ways */
        im: z.boolean().default(true),
        /** list and group MESSAGEs and chat rooms; without, 403 */
        groupChat: z.boolean().default(true),
        /** conversation storage and deferred storage for the user; without, nothing is stored (480 where storing was the only way) */
        storage: z.boolean().default(true),
        /** the largest message body a user sends or receives (SIP 413, MSRP 413 and a=max-size) */
        maxMessageBytes: z.number().int().min(1).max(256 * 2 ** 20).default(16 * 2 ** 20),
        /** media types a user sends and receives, wildcards like text/* allowed; empty = all (415 with Accept) */
        contentTypes: z.array(z.string().regex(/^(\*|\*\/\*|[A-Za-z0-9!#$&^_.+-]+\/(\*|[A-Za-z0-9!#$&^_.+-]+))$/, 'a media type: type/subtype, type/* or *')).default([]),
      })
      .strict()
      .prefault({}),
    xdms: z
      .object({
        /**
         * budget of the parsed-document cache, in estimated heap bytes of the DOMs
         * (source characters x 32, measured); 0 = no cache
         */
        parsedCacheBytes: z.number().int().min(0).default(64 * 2 ** 20),
        /**
         * budget of the DOMs kept between element edits of a document (the state the next
         * edit starts from), in the same estimated heap bytes; 0 = every edit parses the document
         */
        editCacheBytes: z.number().int().min(0).default(32 * 2 ** 20),
        /** ms a schema validation may take before it is abandoned (503) and its worker replaced */
        validationTimeout: z.number().int().min(1).default(10_000),
        /** larger XCAP request bodies get 413 */
        maxBodyBytes: z.number().int().min(1024).max(64 * 2 ** 20).default(2 ** 20),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;

/** Environment variables that override the file (README: configuration). */
const ENV: [string, (raw: Record<string, unknown>, v: string) => void][] = [
  ['PARLEY_DOMAIN', (r, v) => (r.domain = v)],
  ['PARLEY_DATA_DIR', (r, v) => (r.dataDir = v)],
  ['PARLEY_LOG_LEVEL', (r, v) => (section(r, 'log').level = v)],
  ['PARLEY_BIND', (r, v) => (section(r, 'sip').bind = v)],
  ['PARLEY_ADVERTISED_HOST', (r, v) => (section(r, 'sip').advertisedHost = v)],
  ['PARLEY_SIP_PORT', (r, v) => (section(r, 'sip').port = portValue(v))],
  ['PARLEY_UDP_ENGINE', (r, v) => (section(r, 'sip').udpEngine = v)],
  ['PARLEY_SIP_TLS_PORT', (r, v) => (section(r, 'sip').tlsPort = portValue(v))],
  ['PARLEY_SIP_WS_PORT', (r, v) => (section(r, 'sip').wsPort = portValue(v))],
  ['PARLEY_SIP_WSS_PORT', (r, v) => (section(r, 'sip').wssPort = portValue(v))],
  ['PARLEY_HTTP_PORT', (r, v) => (section(r, 'http').port = portValue(v))],
  ['PARLEY_MSRP_PORT', (r, v) => (section(r, 'msrp').port = portValue(v))],
  ['PARLEY_MSRP_TLS_PORT', (r, v) => (section(r, 'msrp').tlsPort = portValue(v))],
  ['PARLEY_METRICS_PORT', (r, v) => (section(r, 'metrics').port = portValue(v))],
];

const portValue = (v: string): number | string => (v === 'auto' ? v : Number(v));

function section(raw: Record<string, unknown>, key: string): Record<string, unknown> {
  const s = raw[key];
  if (typeof s === 'object' && s !== null) return s as Record<string, unknown>;
  const fresh: Record<string, unknown> = {};
  raw[key] = fresh;
  return fresh;
}


export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the config file (YAML or JSON; optional), applies environment
 * overrides, and validates everything at once, naming every problem.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: Record<string, unknown> = {};
  const chosen = file ?? env.PARLEY_CONFIG ?? (existsSync('parley.yaml') ? 'parley.yaml' : undefined);
  if (chosen !== undefined) {
    let text: string;
    try {
      text = readFileSync(chosen, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${chosen}: ${(err as Error).message}`);
    }
    const parsed: unknown = parseYaml(text);
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${chosen}: the top level must be a mapping`);
      raw = parsed as Record<string, unknown>;
    }
  }
  const envProblems: string[] = [];
  for (const [name, apply] of ENV) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (name.endsWith('_PORT') && !/^([0-9]+|auto)$/.test(v)) envProblems.push(`  - ${name}: not a port number or "auto": '${v}'`);
    else apply(raw, v);
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success || envProblems.length > 0) {
    const problems = [...envProblems, ...(result.error?.issues ?? []).map((i) => `  - ${i.path.join('.') || '(top)'}: ${i.message}`)];
    throw new ConfigError(`invalid configuration${chosen ? ` in ${chosen}` : ''}:\n${problems.join('\n')}`);
  }
  const config = result.data!;
  config.dataDir = path.resolve(config.dataDir);
  return config;
}
