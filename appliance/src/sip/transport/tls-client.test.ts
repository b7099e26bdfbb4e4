import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { PeerNameMismatch, certificateFailure, checkPeerName, loadTrustAnchors, tlsConnectOptions } from './tls-client.js';

let dir: string;
let pem: string;
const write = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'parley-tls-client-'));
  pem = (await generate([{ name: 'commonName', value: 'Test CA' }], { keyType: 'ec', algorithm: 'sha256' })).cert;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The parts of a peer certificate that the name check reads. */
const peer = (subjectaltname: string | undefined, CN = 'device'): tls.PeerCertificate => ({ subject: { CN }, subjectaltname }) as tls.PeerCertificate;

describe('loadTrustAnchors', () => {
  it("takes Node's roots, the first system bundle present, and the CA file", () => {
    const bundle = write('system.crt', `${pem}\n${pem}`);
    const ca = write('extra.pem', `# our enterprise CA\n${pem}`);
    const anchors = loadTrustAnchors(ca, [path.join(dir, 'absent.crt'), bundle]);
    expect(anchors.system).toBe(bundle);
    expect(anchors.extra).toBe(1);
    expect(anchors.pems).toHaveLength(tls.rootCertificates.length + 3);
    expect(anchors.pems.slice(0, tls.rootCertificates.length)).toEqual(tls.rootCertificates);
  });

  it("keeps Node's roots alone without a system bundle or a CA file", () => {
    expect(loadTrustAnchors(undefined, [path.join(dir, 'absent.crt')])).toEqual({ pems: [...tls.rootCertificates], system: null, extra: 0 });
  });

  it('refuses a CA file that is missing, holds no certificate, or a broken one, naming it', () => {
    expect(() => loadTrustAnchors(path.join(dir, 'nope.pem'), [])).toThrow(/ENOENT/);
    const empty = write('empty.pem', 'not a certificate\n');
    expect(() => loadTrustAnchors(empty, [])).toThrow(`${empty}: no PEM certificate in it`);
    const broken = write('broken.pem', `${pem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
    expect(() => loadTrustAnchors(broken, [])).toThrow(`${broken}: certificate 2 cannot be read`);
  });
});

describe('checkPeerName', () => {
  it('accepts an IP literal only as an iPAddress subjectAltName (RFC 2818 §3.1)', () => {
    expect(checkPeerName('192.0.2.7', peer('DNS:device.example.test, IP Address:192.0.2.7'))).toBeUndefined();
    expect(checkPeerName('2001:db8::7', peer('IP Address:2001:DB8:0:0:0:0:0:7'))).toBeUndefined();
    // a CN that spells the address does not count
    expect(checkPeerName('192.0.2.7', peer(undefined, '192.0.2.7'))).toBeInstanceOf(PeerNameMismatch);
  });

  it('says which name was checked and what the certificate names instead', () => {
    expect(checkPeerName('127.0.0.1', peer('IP Address:127.0.0.2'))?.message).toBe('certificate not valid for 127.0.0.1 (it names IP Address:127.0.0.2)');
    expect(checkPeerName('device.example.test', peer(undefined, 'other'))?.message).toBe(
      'certificate not valid for device.example.test (it has no subjectAltName, subject CN other)',
    );
  });

  it('accepts a host name as a dNSName', () => {
    expect(checkPeerName('device.example.test', peer('DNS:device.example.test'))).toBeUndefined();
    expect(checkPeerName('device.example.test', peer('DNS:other.example.test'))).toBeInstanceOf(PeerNameMismatch);
  });
});

describe('tlsConnectOptions', () => {
  // any context will do: these tests read the options, they do not connect
  const secureContext = tls.createSecureContext();

  it('verifies, and sends SNI for a host name only (RFC 6066 §3: no IP literals)', () => {
    expect(tlsConnectOptions({ verifyPeer: true, secureContext }, '192.0.2.7', 5061, 'device.example.test')).toMatchObject({
      host: '192.0.2.7', port: 5061, servername: 'device.example.test', rejectUnauthorized: true, secureContext,
    });
    expect(tlsConnectOptions({ verifyPeer: true, secureContext }, '192.0.2.7', 5061, '192.0.2.7').servername).toBeUndefined();
  });

  it('checks the given name, not the address connected to', () => {
    const check = tlsConnectOptions({ verifyPeer: true, secureContext }, '192.0.2.7', 5061, 'device.example.test').checkServerIdentity!;
    expect(check('192.0.2.7', peer('IP Address:192.0.2.7'))).toBeInstanceOf(PeerNameMismatch);
    expect(check('192.0.2.7', peer('DNS:device.example.test'))).toBeUndefined();
  });

  it('accepts any certificate when verification is off', () => {
    expect(tlsConnectOptions({ verifyPeer: false }, '192.0.2.7', 5061, '192.0.2.7')).toEqual({ host: '192.0.2.7', port: 5061, rejectUnauthorized: false });
  });
});

describe('certificateFailure', () => {
  const coded = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('gives the reason for certificate failures, and null for other connection failures', () => {
    expect(certificateFailure(coded('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'))).toBe('self-signed certificate');
    expect(certificateFailure(coded('CERT_HAS_EXPIRED', 'certificate has expired'))).toBe('certificate has expired');
    expect(certificateFailure(new PeerNameMismatch('certificate not valid for 127.0.0.1 (…)'))).toBe('certificate not valid for 127.0.0.1 (…)');
    expect(certificateFailure(coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5061'))).toBeNull();
    expect(certificateFailure(coded('ECONNRESET', 'socket hang up'))).toBeNull();
    expect(certificateFailure(new Error('connect timeout'))).toBeNull();
  });
});
