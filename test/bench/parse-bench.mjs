// The parser alone, on the three datagrams the relay bench sends Parley per call (SIPp's MESSAGE,
// the same with Proxy-Authorization, the device's 200 with both Vias in one line), parsed in turn
// and read as the stack reads them (Vias, From, To, CSeq, Call-ID). Prints the median and best of
// 15 rounds, in CPU microseconds per datagram. Compare two builds by running each several times,
// alternately: one run's figure moves by a fifth with how V8 happened to compile it.
//
// usage: node test/bench/parse-bench.mjs [DIST]   (DIST: a build's appliance/dist, absolute)
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const dist = process.argv[2] ?? path.join(HERE, '..', '..', 'appliance', 'dist');
const { parseDatagram } = await import(pathToFileURL(path.join(dist, 'sip', 'message', 'parser.js')).href);

const datagram = (lines, body = '') => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`);
const request = (extra) =>
  datagram(
    [
      'MESSAGE sip:bob@example.test SIP/2.0',
      'Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-2;rport',
      'From: <sip:u0001@example.test>;tag=1234SIPpTag001',
      'To: <sip:bob@example.test>',
      'Call-ID: 1-1234@127.0.0.1',
      `CSeq: ${extra.length > 0 ? 2 : 1} MESSAGE`,
      ...extra,
      'Max-Forwards: 70',
      'Content-Type: text/plain',
      'Content-Length: 5',
    ],
    'hello',
  );
const challenged = request([]);
const withCredentials = request([
  'Proxy-Authorization: Digest username="u0001",realm="example.test",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:bob@example.test",nonce="mj3kq0.AbCd1.AbCdEfGhIjKlMnOpQrStUv",response="0123456789abcdef0123456789abcdef",algorithm=MD5',
]);
const ok = datagram([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabcdefabcdef;rport=5060, SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-2;rport=5061;received=127.0.0.1',
  'From: <sip:u0001@example.test>;tag=1234SIPpTag001',
  'To: <sip:bob@example.test>;tag=5678SIPpUas01',
  'Call-ID: 1-1234@127.0.0.1',
  'CSeq: 2 MESSAGE',
  'Content-Length: 0',
]);
const all = [challenged, withCredentials, ok];

const read = (buf) => {
  const outcome = parseDatagram(buf);
  if (!outcome?.ok) throw new Error(`not parsed: ${outcome?.rejected.reason}`);
  const m = outcome.message;
  return m.isRequest ? [m.vias, m.from, m.to, m.cseq, m.callId] : [m.vias, m.cseq];
};

for (let i = 0; i < 300_000; i++) read(all[i % 3]);
const N = 150_000;
const rounds = [];
for (let r = 0; r < 15; r++) {
  const before = process.cpuUsage();
  for (let i = 0; i < N; i++) read(all[i % 3]);
  const used = process.cpuUsage(before);
  rounds.push((used.user + used.system) / N);
}
rounds.sort((a, b) => a - b);
console.log(`parse, the relay's three datagrams in turn: median ${rounds[7].toFixed(2)} µs, best ${rounds[0].toFixed(2)} µs of CPU per datagram`);
