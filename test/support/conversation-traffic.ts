import type { RunningAppliance } from './appliance.js';
import { RawClient } from './raw-client.js';
import { withDigest } from './sip-user.js';
import { ChatClient } from './msrp-client.js';

/**
 * Pager traffic for the stored-conversation tests (API and browser): with `history.storeAll` each
 * message lands in the sender's and the recipient's conversation. Quotes, a comma, CRLF and markup
 * test the CSV and HTML escaping; a text starting with "-" (a spreadsheet reads it as a formula)
 * the CSV's formula guard; the non-text one the base64 path of the JSON export.
 */
export const TRAFFIC = [
  { from: 'alice', to: 'bob', type: 'text/plain;charset=utf-8', body: 'Lunch in Zürich at noon? "quoted", comma\r\nnew line <script>alert(1)</script>' },
  { from: 'bob', to: 'alice', type: 'text/plain', body: '-Yes, noon is fine' },
  { from: 'alice', to: 'carol', type: 'application/vnd.parley-test', body: 'opaque ÿ bytes' },
  { from: 'carol', to: 'alice', type: 'text/plain', body: 'the report is due at noon' },
] as const;

/**
 * A text as a CSV export's cell shows it: one a spreadsheet would read as a formula (= + - @ TAB CR
 * first) behind a single quote (OWASP "CSV injection"), any other as it is.
 */
export const csvCellOf = (text: string): string => (/^[=+\-@\t\r]/.test(text) ? `'${text}` : text);

/** The users the traffic needs; dave and erin have nothing stored, so their session is undisturbed. */
export const TRAFFIC_USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw' } as const;

/** A MESSAGE with its own content type from `from` to the local user `to` over UDP; the status line. */
export async function sendTyped(app: RunningAppliance, from: keyof typeof TRAFFIC_USERS, to: string, contentType: string, body: string): Promise<string> {
  const client = await RawClient.udp(app.sipPort);
  try {
    const spec = { method: 'MESSAGE', uri: `sip:${to}@${app.domain}`, from: `sip:${from}@${app.domain}`, to: `sip:${to}@${app.domain}`, transport: 'UDP' as const, localPort: client.localPort, contentType, body };
    return (await withDigest(client, spec, { name: from, password: TRAFFIC_USERS[from] }, 12_000)).split('\r\n')[0];
  } finally {
    client.close();
  }
}

/** Sends TRAFFIC one message at a time (the order stored is the order shown); each status line. */
export async function sendTraffic(app: RunningAppliance): Promise<string[]> {
  const out: string[] = [];
  for (const m of TRAFFIC) out.push(await sendTyped(app, m.from, m.to, m.type, m.body));
  return out;
}

/** One finished MSRP session, dave calling erin (a session_history row); the final responses. */
export async function oneSession(app: RunningAppliance): Promise<{ invite: string; bye: string }> {
  const dave = await ChatClient.connect(app, 'dave', TRAFFIC_USERS.dave);
  const erin = await ChatClient.connect(app, 'erin', TRAFFIC_USERS.erin);
  try {
    const [call, answered] = await Promise.all([dave.invite('erin'), erin.answerInvite()]);
    const bye = dave.bye(call);
    await erin.awaitBye(answered);
    return { invite: call.final, bye: await bye };
  } finally {
    dave.close();
    erin.close();
  }
}
