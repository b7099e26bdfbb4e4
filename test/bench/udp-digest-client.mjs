// The small SIP client over UDP that the benches share (run.mjs's REGISTER driver, sip-probe.mjs,
// presence-bench.mjs): one socket for many users, requests written as text, answers matched by a
// key (Call-ID, or branch), RFC 3261 Timer E-like retransmission or none, and MD5 digest
// credentials with qop=auth (what SIPp and Kamailio's bench configuration speak too).
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';

export const md5 = (s) => createHash('md5').update(s).digest('hex');

/** The Call-ID of a message (long or compact form). */
export const callIdOf = (text) => /^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)/im.exec(text)?.[1];
/** The top Via's branch of a message. */
export const branchOf = (text) => /branch=([^;\s,]+)/i.exec(text)?.[1];

/**
 * An Authorization (REGISTER, answered 401) or Proxy-Authorization (answered 407) header line
 * for `challenge`, the text of the response that carried it (RFC 3261 §22.4, RFC 2617 qop=auth).
 */
export function credentials({ header = 'Authorization', user, password, realm, method, uri, challenge, nc = '00000001', cnonce = 'bench' }) {
  const nonce = /nonce="([^"]+)"/.exec(challenge)[1];
  const response = md5(`${md5(`${user}:${realm}:${password}`)}:${nonce}:${nc}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
  return `${header}: Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
}

/**
 * A request as text: the Request-Line, then `headers` (Via first, written by the caller with
 * `client.via(branch)`), then Content-Length and the body.
 */
export function request(method, uri, headers, body = '') {
  return [`${method} ${uri} SIP/2.0`, ...headers, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
}

/**
 * One UDP socket on 127.0.0.1 talking to `port`. `keyOf` picks what answers are matched by
 * (Call-ID by default); requests the server sends us (NOTIFY) go to `onRequest`, if set.
 */
export async function udpClient(port, { keyOf = callIdOf, recvBufferSize = 8 << 20 } = {}) {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  sock.setRecvBufferSize?.(recvBufferSize);
  const local = sock.address().port;
  const waiting = new Map();
  const client = {
    local,
    /** told of every request the server sends us */
    onRequest: null,
    via: (branch) => `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport`,
    send: (text) => sock.send(text, port, '127.0.0.1'),
    /** Answers a request 200, copying Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2). */
    answer(text) {
      const keep = text.split('\r\n').filter((l) => /^(Via|v|From|f|To|t|Call-ID|i|CSeq)\s*:/i.test(l));
      client.send(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'));
    },
    /** Waits for the next message whose key is `key` (the caller sends what it answers). */
    expect(key, handler) {
      waiting.set(key, handler);
      return () => waiting.delete(key);
    },
    /**
     * Sends `text` and resolves with the final response matched by `key`. `retransmit`: sent
     * again after 500 ms × tries, up to `tries` times, then rejected (as a UDP client's Timer E);
     * without it, one send, and null after `timeoutMs` (counted as lost by the caller).
     */
    exchange(key, text, { retransmit = true, tries = 5, timeoutMs = 2000 } = {}) {
      return new Promise((resolve, reject) => {
        let timer;
        let sent = 0;
        const done = () => (clearTimeout(timer), waiting.delete(key));
        waiting.set(key, (res) => {
          if (/^SIP\/2\.0 1\d\d/.test(res)) return; // provisional: wait for the final answer
          done();
          resolve(res);
        });
        const send = () => {
          if (retransmit && ++sent > tries) return done(), reject(new Error(`no answer for ${key}`));
          client.send(text);
          timer = setTimeout(retransmit ? send : () => (done(), resolve(null)), retransmit ? 500 * sent : timeoutMs);
        };
        send();
      });
    },
    close: () => sock.close(),
  };
  sock.on('message', (m) => {
    const text = m.toString();
    if (!text.startsWith('SIP/2.0 ') && client.onRequest) {
      client.onRequest(text);
      return;
    }
    waiting.get(keyOf(text))?.(text);
  });
  return client;
}
