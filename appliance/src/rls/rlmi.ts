import { randomBytes } from 'node:crypto';
import { escapeAttr, escapeText } from '../xdms/xcap-error.js';

export const RLMI_TYPE = 'application/rlmi+xml';

/** One resource of a list as RLMI reports it (RFC 4662 §5.2). */
export interface RlmiResource {
  uri: string;
  name: string | null;
  /** the back-end subscription's id, stable per list subscription and member */
  instanceId: string;
  state: 'active' | 'pending' | 'terminated';
  reason?: string;
  /** the member's PIDF, for an active instance */
  body?: { type: string; content: string };
}

/**
 * A list NOTIFY body (RFC 4662 §5): multipart/related (RFC 2387) whose root part is the RLMI
 * document and whose other parts are the members' documents, each named by the `cid` of its
 * instance. Returns the Content-Type (with type, start and boundary) and the body.
 */
export function listBody(listUri: string, version: number, fullState: boolean, resources: RlmiResource[]): { type: string; content: string } {
  const host = 'parley';
  const rootCid = `${randomBytes(6).toString('base64url')}@${host}`;
  const parts: { cid: string; type: string; content: string }[] = [];
  const lines = resources.map((r) => {
    let cidAttr = '';
    if (r.state === 'active' && r.body) {
      const cid = `${randomBytes(6).toString('base64url')}@${host}`;
      parts.push({ cid, type: r.body.type, content: r.body.content });
      cidAttr = ` cid="${escapeAttr(cid)}"`;
    }
    const reason = r.state === 'terminated' && r.reason ? ` reason="${escapeAttr(r.reason)}"` : '';
    const name = r.name ? `    <name>${escapeText(r.name)}</name>\n` : '';
    return `  <resource uri="${escapeAttr(r.uri)}">\n${name}    <instance id="${escapeAttr(r.instanceId)}" state="${r.state}"${reason}${cidAttr}/>\n  </resource>\n`;
  });
  const rlmi = `<?xml version="1.0" encoding="UTF-8"?>\n<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="${escapeAttr(listUri)}" version="${version}" fullState="${fullState}">\n${lines.join('')}</list>\n`;
  const boundary = `parley-${randomBytes(9).toString('base64url')}`;
  const part = (cid: string, type: string, content: string) =>
    `--${boundary}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <${cid}>\r\nContent-Type: ${type};charset="UTF-8"\r\n\r\n${content}\r\n`;
  const content = part(rootCid, RLMI_TYPE, rlmi) + parts.map((p) => part(p.cid, p.type, p.content)).join('') + `--${boundary}--\r\n`;
  return { type: `multipart/related;type="${RLMI_TYPE}";start="<${rootCid}>";boundary="${boundary}"`, content };
}
