import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, eventually, type RunningAppliance } from '../support/appliance.js';
import { ChatClient } from '../support/msrp-client.js';
import { headerOf } from '../support/raw-client.js';
import { inbox, putGroupRooms } from '../support/rooms.js';
import { captureLoopback, dissectorErrors, readCapture } from '../support/tshark.js';

const D = 'parley.test';
let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } });
  expect(await putGroupRooms(app, 'alice', [{ name: 'den', displayName: 'Den' }])).toBe(201);
});
afterAll(async () => {
  await app?.cleanup();
});


describe("a chat room as Wireshark's dissectors see it", () => {
  it('has SIP (with a conference NOTIFY), SDP and MSRP (with NICKNAME) on the wire and zero malformed or error-level packets', async () => {
    const capture = await captureLoopback([app.tcpPort, app.msrpPort]);
    try {
      const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((n) => ChatClient.connect(app, n, `${n}-pw`, false)));
      const a = await alice.invite('den');
      // alice watches the room inside her INVITE dialog: a full NOTIFY, then partial ones as the others come and go
      expect(await alice.inDialog(a, 'SUBSCRIBE', ['Event: conference', 'Expires: 600', 'Accept: application/conference-info+xml'])).toMatch(/^SIP\/2\.0 200/);
      const notifies: string[] = [];
      const answerNotifies = async (n: number): Promise<void> => {
        while (notifies.length < n) {
          const m = await alice.sip.next((x) => x.startsWith('NOTIFY ') && headerOf(x, 'Call-ID')[0] === a.callId, 10_000);
          alice.sip.answer(m);
          notifies.push(m);
        }
      };
      await answerNotifies(1);
      const b = await bob.invite('den');
      const c = await carol.invite('den');
      const [aGot, bGot, cGot] = [inbox(a), inbox(b), inbox(c)];
      expect((await b.session.sendNickname('Bobby')).status).toBe(200);
      expect((await c.session.sendNickname('bobby')).status).toBe(425);
      expect((await a.session.send('text/plain', Buffer.from('hello den'))).status).toBe(200);
      expect((await b.session.send('text/plain', Buffer.alloc(40_000, 'b'))).status).toBe(200);
      const priv = `From: <sip:carol@${D}>\r\nTo: <sip:alice@${D}>\r\n\r\nContent-Type: text/plain\r\n\r\njust you`;
      expect((await c.session.send('message/cpim', Buffer.from(priv))).status).toBe(200);
      await eventually(() => aGot.length >= 2 && bGot.length >= 1 && cGot.length >= 2, 10_000);
      expect(await carol.bye(c)).toMatch(/^SIP\/2\.0 200/);
      // NOTIFYs until one shows carol gone (changes within a second fold into one NOTIFY); each waits at most 10 s
      while (!notifies.some((n) => /entity="sip:carol@[^"]+" state="deleted"/.test(n))) await answerNotifies(notifies.length + 1);
      await Promise.all([alice.bye(a), bob.bye(b)]);
      for (const x of [alice, bob, carol]) x.close();
    } finally {
      await capture.stop();
    }
    const decode: [number, string][] = [
      [app.tcpPort, 'sip'],
      [app.msrpPort, 'msrp'],
    ];
    try {
      expect(await dissectorErrors(capture.file, decode)).toEqual([]);
      expect(new Set(await readCapture(capture.file, decode, 'msrp.request.line', ['msrp.method']))).toEqual(new Set(['SEND', 'NICKNAME']));
      expect((await readCapture(capture.file, decode, 'sip.Method == "NOTIFY"')).length).toBeGreaterThanOrEqual(2);
      // the NOTIFY bodies are read as XML in the conference-info namespace
      expect((await readCapture(capture.file, decode, 'sip.Method == "NOTIFY" && xml')).length).toBeGreaterThanOrEqual(2);
      // three offers and three answers, read as SDP with an MSRP path
      expect((await readCapture(capture.file, decode, 'sdp.media.proto == "TCP/MSRP"')).length).toBeGreaterThanOrEqual(6);
    } finally {
      capture.cleanup();
    }
  });
});
