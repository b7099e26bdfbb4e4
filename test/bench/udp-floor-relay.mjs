// The floor under any SIP relay written on Node, for `npm run bench` (`--only relay,floor`): the
// same six datagrams per call as a digest-challenging proxy (MESSAGE in, 407 out; MESSAGE with
// credentials in, forwarded out; 200 in, relayed out), with the least JavaScript that can produce
// them: no parse beyond finding a few lines, no validation, no credentials checked, no
// transactions but a map from our branch to the sender, no timers. What it costs per 1,000 calls
// is what Node's dgram and this machine's kernel charge for the traffic itself, so Parley's own
// work per message is its figure minus this one.
//
// usage: node udp-floor-relay.mjs PORT   (binds 127.0.0.1:PORT; REGISTER is answered 401 then
// 200, and the last Contact registered is where every MESSAGE goes)
import dgram from 'node:dgram';

const port = Number(process.argv[2]);
const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
const CRLF = '\r\n';
const NONCE = 'floor0123456789abcdef';
/** our branch -> where the request came from (the only state, as a transaction table would hold) */
const pending = new Map();
let device = null;
let seq = 0;

/** The header lines a response copies from its request (RFC 3261 §8.2.6.2), found by name. */
function copied(lines) {
  return lines.filter((l) => /^(via|from|to|call-id|cseq)\s*:/i.test(l));
}

function answer(text, lines, status, extra, rinfo) {
  const head = copied(lines).map((l) => (/^to\s*:/i.test(l) && !/;tag=/i.test(l) ? `${l};tag=floor` : l));
  const out = `SIP/2.0 ${status}${CRLF}${[...head, ...extra, 'Content-Length: 0'].join(CRLF)}${CRLF}${CRLF}`;
  socket.send(Buffer.from(out), rinfo.port, rinfo.address);
}

socket.on('message', (buf, rinfo) => {
  const text = buf.toString('latin1');
  if (text.startsWith('SIP/2.0')) {
    // a response to a forwarded MESSAGE: cut our Via (the first) and send it to whoever sent the request
    const at = text.indexOf(`${CRLF}Via:`);
    const end = text.indexOf(CRLF, at + 2);
    const branch = /branch=([^;,\s]+)/.exec(text.slice(at, end))?.[1];
    const to = pending.get(branch);
    if (to === undefined) return;
    if (text.charCodeAt(8) !== 49) pending.delete(branch); // a final response (not 1xx) ends it
    // our Via is the first value of that line, alone or before a comma (SIPp's [last_Via:] joins them)
    const comma = text.indexOf(',', at);
    const cut = comma !== -1 && comma < end ? `${text.slice(0, at + 2)}Via: ${text.slice(comma + 1, end).trimStart()}` : text.slice(0, at);
    socket.send(Buffer.from(cut + text.slice(end), 'latin1'), to.port, to.address);
    return;
  }
  const headEnd = text.indexOf(CRLF + CRLF);
  const lines = text.slice(0, headEnd).split(CRLF);
  if (text.startsWith('REGISTER')) {
    if (!/\r\nAuthorization:/i.test(text)) return answer(text, lines, '401 Unauthorized', [`WWW-Authenticate: Digest realm="bench.test", nonce="${NONCE}", algorithm=MD5`], rinfo);
    const contact = lines.find((l) => /^contact\s*:/i.test(l));
    const hostPort = /@([\d.]+):(\d+)/.exec(contact ?? '');
    if (hostPort) device = { address: hostPort[1], port: Number(hostPort[2]) };
    return answer(text, lines, '200 OK', [contact, 'Expires: 3600'], rinfo);
  }
  if (!/\r\nProxy-Authorization:/i.test(text)) {
    return answer(text, lines, '407 Proxy Authentication Required', [`Proxy-Authenticate: Digest realm="bench.test", nonce="${NONCE}", algorithm=MD5`], rinfo);
  }
  if (device === null) return answer(text, lines, '480 Temporarily Unavailable', [], rinfo);
  const branch = `z9hG4bKfloor${(seq++).toString(36)}`;
  pending.set(branch, { address: rinfo.address, port: rinfo.port });
  const firstLineEnd = text.indexOf(CRLF);
  const via = `${CRLF}Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch}`;
  socket.send(Buffer.from(text.slice(0, firstLineEnd) + via + text.slice(firstLineEnd), 'latin1'), device.port, device.address);
});

socket.bind(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
