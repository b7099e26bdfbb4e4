import type { DataSource } from 'typeorm';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { StoreChangeWatcher } from '../store/store-changes.js';
import { warnIfReadableByOthers } from '../store/data-folder.js';
import { UserDirectory } from '../core/user-directory.js';
import { ServiceProfiles } from '../core/service-profiles.js';
import { ProfilePolicy } from '../im/participating/profile-policy.js';
import { LocalDomain } from '../core/local-domain.js';
import { Authenticator } from '../core/authenticator.js';
import { LocationService } from '../core/location-service.js';
import { Registrar } from '../core/registrar.js';
import { LoginThrottle } from '../core/login-throttle.js';
import { SipStack } from '../sip/stack.js';
import { loadTlsCredentials } from '../sip/transport/tls-credentials.js';
import type { TlsClientOptions } from '../sip/transport/tls-client.js';
import { VERSION } from '../version.js';
import { advertisedHostOf, localAddresses } from './network.js';

/**
 * The SIP/IP core: users and service profiles (following other nodes' changes), our host and
 * domain, the TLS identity, the SIP stack, registrations, authentication and the registrar.
 */
export async function wireCore(config: Config, log: Logger, ds: DataSource, changes: StoreChangeWatcher, tlsClient: TlsClientOptions) {
  const users = new UserDirectory(ds, config.domain, log);
  await users.load();
  users.follow(changes);
  // service profiles (Y1, Y3): the configured defaults and each user's overrides, in memory
  const profiles = new ServiceProfiles(ds, config.profile, log);
  await profiles.load();
  profiles.follow(changes);
  const profilePolicy = new ProfilePolicy(profiles);
  const advertisedHost = advertisedHostOf(config);
  const domain = new LocalDomain(config.domain, [advertisedHost, ...localAddresses()]);
  const { cert, key } = config.sip.tls;
  const identity = cert !== undefined && key !== undefined ? { cert, key } : undefined;
  const usesTls = config.sip.tlsPort !== 0 || config.sip.wssPort !== 0 || config.msrp.tlsPort !== 0;
  // a configured key lives outside the data folder, the operator's to manage: warned about, not refused
  if (usesTls && identity) warnIfReadableByOthers(identity.key, log);
  const credentials = usesTls ? await loadTlsCredentials(config.dataDir, config.domain, identity) : undefined;

  const stack = new SipStack(
    {
      transport: {
        bind: config.sip.bind,
        port: config.sip.port,
        tlsPort: config.sip.tlsPort,
        wsPort: config.sip.wsPort,
        wssPort: config.sip.wssPort,
        tls: credentials ? { cert: credentials.cert, key: credentials.key } : undefined,
        tlsClient,
        limits: { maxMessageBytes: config.sip.maxMessageBytes, maxBodyBytes: config.sip.maxBodyBytes },
        connections: config.sip.connections,
        udpEngine: config.sip.udpEngine,
      },
      timers: config.sip.timers,
      advertisedHost,
      trace: config.log.traceSip,
      forceRport: config.sip.forceRport,
      userAgent: config.sip.userAgent ?? `Parley/${VERSION}`,
      overload: config.sip.overload.maxQueueDelay > 0 ? { ...config.sip.overload, staleAfter: config.sip.timers.T1 } : null,
    },
    log,
  );
  const location = new LocationService(ds, log);
  await location.load();
  const auth = new Authenticator(
    users,
    {
      realm: config.domain,
      algorithms: config.auth.algorithms,
      offerAllTo: config.auth.offerAllTo.map((p) => new RegExp(p)),
      nonceLifetime: config.auth.nonceLifetime,
      maxTrackedNonces: config.auth.maxTrackedNonces,
    },
    new LoginThrottle(config.auth.throttle),
    log,
  );
  // overload control admits credentials only for a nonce of ours issued lately (a call's second half)
  stack.setNonceCheck((nonce, withinMs) => auth.issuedWithin(nonce, withinMs));
  const registrar = new Registrar(stack, domain, auth, location, config.registrar);
  return { users, profiles, profilePolicy, advertisedHost, domain, identity, credentials, stack, location, auth, registrar };
}

/** What {@link wireCore} made. */
export type Core = Awaited<ReturnType<typeof wireCore>>;
