import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { captureLoopback, dissectorErrors, readCapture } from '../support/tshark.js';
import type { ReceivedMessage } from '../../appliance/src/msrp/msrp-session.js';

let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw', bob: 'bob-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

describe("a one-to-one session as Wireshark's dissectors see it", () => {
  it('has SIP, SDP and MSRP on the wire and zero malformed or error-level packets', async () => {
    const capture = await captureLoopback([app.tcpPort, app.msrpPort]);
    try {
      const alice = await ChatClient.connect(app, 'alice', 'alice-pw');
      const bob = await ChatClient.connect(app, 'bob', 'bob-pw');
      const [aCall, bCall] = await Promise.all([alice.invite('bob'), bob.answerInvite()]);
      const got = new Promise<ReceivedMessage>((r) => (bCall.session.onMessage = (m) => (m.report(200), r(m))));
      // chunked on both legs (2 KiB from the client, 16 KiB from the switch), with a success report
      const report = new Promise((r) => (aCall.session.onReport = r));
      await aCall.session.send('text/plain', Buffer.alloc(50_000, 'm'), { successReport: true });
      await got;
      await report;
      await bCall.session.send('text/plain', Buffer.from('short reply'));
      await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);
      alice.close();
      bob.close();
    } finally {
      await capture.stop();
    }
    const decode: [number, string][] = [
      [app.tcpPort, 'sip'],
      [app.msrpPort, 'msrp'],
    ];
    try {
      expect(await dissectorErrors(capture.file, decode)).toEqual([]);
      const methods = await readCapture(capture.file, decode, 'msrp.request.line', ['msrp.method']);
      expect(new Set(methods)).toEqual(new Set(['SEND', 'REPORT']));
      expect((await readCapture(capture.file, decode, 'msrp.response.line')).length).toBeGreaterThan(0);
      // Alice's INVITE twice (407, then with credentials), the server's to Bob
      expect(await readCapture(capture.file, decode, 'sip.Method == "INVITE"')).toHaveLength(3);
      // offers and answers on both legs are read as SDP with an MSRP path
      expect((await readCapture(capture.file, decode, 'sdp.media.proto == "TCP/MSRP"')).length).toBeGreaterThanOrEqual(4);
    } finally {
      capture.cleanup();
    }
  });
});
