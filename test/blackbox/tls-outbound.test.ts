import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { RawClient, headerOf } from '../support/raw-client.js';
import { withAuth } from '../support/digest-client.js';
import { streamDevice, type StreamDevice } from '../support/stream-device.js';

// Devices that register over UDP with a Contact asking for TLS (or TCP) are reached over a
// connection the appliance opens to the contact's IP (RFC 3263 §4.1), and over TLS only when the
// device's certificate chains to a trusted CA and carries that IP (RFC 2818 §3.1).

// MD5 only: the tests' digest client answers the first challenge it is offered.
const AUTH = { algorithms: ['MD5'] };
const D = 'parley.test';
const PASSWORDS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw' };
type User = keyof typeof PASSWORDS;
/** the accounts one appliance needs (each one added costs a CLI run) */
const users = (...names: User[]) => Object.fromEntries(names.map((n) => [n, PASSWORDS[n]]));

interface Pem {
  cert: string;
  key: string;
}

const ip = (address: string) => ({ type: 7 as const, ip: address });

/** A certificate for the given IP addresses: self-signed, or issued by `ca`. */
async function certificate(name: string, ips: string[], ca?: Pem): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: ca && { cert: ca.cert, key: ca.key },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: ips.map(ip) },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

async function authority(): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: 'Parley test enterprise CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

let certDir: string;
/** self-signed for 127.0.0.1: trusted by nobody unless configured */
let selfSigned: Pem;
let enterpriseCa: Pem;
/** issued by the enterprise CA for 127.0.0.1 */
let issued: Pem;
/** issued by the enterprise CA, but for 127.0.0.2 */
let issuedElsewhere: Pem;

beforeAll(async () => {
  certDir = mkdtempSync(path.join(os.tmpdir(), 'parley-tls-outbound-'));
  selfSigned = await certificate('bob-phone', ['127.0.0.1']);
  enterpriseCa = await authority();
  issued = await certificate('dave-phone', ['127.0.0.1'], enterpriseCa);
  issuedElsewhere = await certificate('erin-phone', ['127.0.0.2'], enterpriseCa);
});
afterAll(() => rmSync(certDir, { recursive: true, force: true }));

/** Registers `user` over UDP with the given Contact URI. */
async function registerOverUdp(app: RunningAppliance, user: User, contact: string): Promise<void> {
  const c = await RawClient.udp(app.sipPort);
  const { final } = await withAuth(
    c,
    {
      method: 'REGISTER', uri: `sip:${D}`, from: `sip:${user}@${D}`, to: `sip:${user}@${D}`, transport: 'UDP', localPort: c.localPort,
      headers: [`Contact: <${contact}>`, 'Expires: 300'],
    },
    user,
    PASSWORDS[user],
  );
  c.close();
  expect(final).toMatch(/^SIP\/2\.0 200 /);
}

/** alice sends `to` a MESSAGE over UDP; resolves with the final response. */
async function message(app: RunningAppliance, to: User, body: string): Promise<string> {
  const alice = await RawClient.udp(app.sipPort);
  try {
    const { final } = await withAuth(
      alice,
      { method: 'MESSAGE', uri: `sip:${to}@${D}`, from: `sip:alice@${D}`, to: `sip:${to}@${D}`, transport: 'UDP', localPort: alice.localPort, body },
      'alice',
      PASSWORDS.alice,
    );
    return final;
  } finally {
    alice.close();
  }
}

/** The device reads the MESSAGE off the appliance's connection and answers 200 over it. */
async function answerOnDevice(device: StreamDevice): Promise<string> {
  const conn = await eventually(() => device.connections[0], 10_000);
  const msg = await conn.next((m) => m.startsWith('MESSAGE '), 10_000);
  conn.answer(msg, 200, 'OK');
  return msg;
}

/** Structured log lines of the appliance at warn level. */
function warnings(app: RunningAppliance): { msg: string; peer?: string; name?: string; reason?: string }[] {
  return app.logs.flatMap((l) => {
    try {
      const entry = JSON.parse(l) as { level: number; msg: string };
      return entry.level === 40 ? [entry] : [];
    } catch {
      return [];
    }
  });
}

/** A device that never gets a MESSAGE: the handshake was abandoned or the connection closed unused. */
function noMessageArrived(device: StreamDevice): boolean {
  return device.connections.every((c) => !c.inbox.some((m) => m.startsWith('MESSAGE ')));
}

describe('outbound TLS with the default trust (system store and Node roots)', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    app = await startAppliance({ config: { auth: AUTH }, users: users('alice', 'bob', 'carol') });
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('refuses a device whose certificate nobody trusts: handshake abandoned, message stored (202), one warn line', async () => {
    const device = await streamDevice('TLS', selfSigned);
    try {
      await registerOverUdp(app, 'bob', `sip:bob@127.0.0.1:${device.port};transport=tls`);
      const final = await message(app, 'bob', 'for an untrusted phone');
      expect(final).toMatch(/^SIP\/2\.0 202 /);
      // the appliance connected, checked the certificate, and hung up without sending anything
      expect(device.accepted).toBeGreaterThanOrEqual(1);
      await eventually(() => device.abortedHandshakes.length + device.connections.filter((c) => c.closed).length >= 1);
      expect(noMessageArrived(device)).toBe(true);
      const refused = warnings(app).filter((w) => w.peer === `127.0.0.1:${device.port}`);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ name: '127.0.0.1', reason: 'self-signed certificate' });
      expect(refused[0].msg).toContain('self-signed certificate');
      expect(refused[0].msg).toContain('sip.tls.ca');
    } finally {
      await device.close();
    }
  });

  it('reaches a transport=tcp contact over a TCP connection to its IP and port', async () => {
    const device = await streamDevice('TCP');
    try {
      await registerOverUdp(app, 'carol', `sip:carol@127.0.0.1:${device.port};transport=tcp`);
      const sent = message(app, 'carol', 'over tcp');
      const msg = await answerOnDevice(device);
      expect(msg).toMatch(new RegExp(`^MESSAGE sip:carol@127\\.0\\.0\\.1:${device.port};transport=tcp SIP/2\\.0`));
      expect(headerOf(msg, 'Via')[0]).toMatch(/^SIP\/2\.0\/TCP /);
      expect(msg).toContain('over tcp');
      expect(await sent).toMatch(/^SIP\/2\.0 200 /);
    } finally {
      await device.close();
    }
  });
});

describe('outbound TLS with sip.tls.ca', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    // the extra CAs: the device's self-signed certificate itself, and the enterprise CA
    const caFile = path.join(certDir, 'extra-cas.pem');
    writeFileSync(caFile, selfSigned.cert + enterpriseCa.cert);
    app = await startAppliance({ config: { auth: AUTH, sip: { tls: { ca: caFile } } }, users: users('alice', 'bob', 'dave', 'erin') });
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('delivers over TLS to a device whose certificate is in the CA file; the device answers 200 over that connection', async () => {
    const device = await streamDevice('TLS', selfSigned);
    try {
      await registerOverUdp(app, 'bob', `sip:bob@127.0.0.1:${device.port};transport=tls`);
      const sent = message(app, 'bob', 'now trusted');
      const msg = await answerOnDevice(device);
      expect(msg).toMatch(new RegExp(`^MESSAGE sip:bob@127\\.0\\.0\\.1:${device.port};transport=tls SIP/2\\.0`));
      expect(headerOf(msg, 'Via')[0]).toMatch(/^SIP\/2\.0\/TLS /);
      expect(msg).toContain('now trusted');
      expect(await sent).toMatch(/^SIP\/2\.0 200 /);
    } finally {
      await device.close();
    }
  });

  it('delivers to a sips: contact whose certificate the enterprise CA issued for its IP', async () => {
    const device = await streamDevice('TLS', issued);
    try {
      await registerOverUdp(app, 'dave', `sips:dave@127.0.0.1:${device.port}`);
      const sent = message(app, 'dave', 'issued by our CA');
      const msg = await answerOnDevice(device);
      expect(msg).toMatch(new RegExp(`^MESSAGE sips:dave@127\\.0\\.0\\.1:${device.port} SIP/2\\.0`));
      expect(await sent).toMatch(/^SIP\/2\.0 200 /);
    } finally {
      await device.close();
    }
  });

  it('refuses a certificate from the trusted CA issued for another IP, and logs "not valid for"', async () => {
    const device = await streamDevice('TLS', issuedElsewhere);
    try {
      await registerOverUdp(app, 'erin', `sip:erin@127.0.0.1:${device.port};transport=tls`);
      expect(await message(app, 'erin', 'wrong address')).toMatch(/^SIP\/2\.0 202 /);
      expect(noMessageArrived(device)).toBe(true);
      const refused = warnings(app).filter((w) => w.peer === `127.0.0.1:${device.port}`);
      expect(refused).toHaveLength(1);
      expect(refused[0].name).toBe('127.0.0.1');
      expect(refused[0].reason).toMatch(/^certificate not valid for 127\.0\.0\.1 \(it names IP Address:127\.0\.0\.2\)$/);
      expect(refused[0].msg).toContain('not valid for 127.0.0.1');
    } finally {
      await device.close();
    }
  });
});

describe('outbound TLS with sip.tls.verifyPeer: false', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    app = await startAppliance({ config: { auth: AUTH, sip: { tls: { verifyPeer: false } } }, users: users('alice', 'bob') });
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('warns at start-up that outbound TLS is not verified', () => {
    const started = app.logs.findIndex((l) => l.includes('"parley started"'));
    const warned = app.logs.findIndex((l) => l.includes('outbound TLS is not verified'));
    expect(warned).toBeGreaterThanOrEqual(0);
    expect(warned).toBeLessThan(started);
    expect(JSON.parse(app.logs[warned])).toMatchObject({ level: 40 });
  });

  it('delivers to a device with a self-signed certificate', async () => {
    const device = await streamDevice('TLS', selfSigned);
    try {
      await registerOverUdp(app, 'bob', `sip:bob@127.0.0.1:${device.port};transport=tls`);
      const sent = message(app, 'bob', 'unverified but delivered');
      const msg = await answerOnDevice(device);
      expect(msg).toContain('unverified but delivered');
      expect(await sent).toMatch(/^SIP\/2\.0 200 /);
    } finally {
      await device.close();
    }
  });
});
