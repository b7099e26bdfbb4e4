import { Scanner, isTokenChar } from './scanner.js';

/** One `;name[=value]` parameter, name as received (compare lower-cased). */
export interface Param {
  name: string;
  value: string | null;
}

/**
 * Reads `*( SEMI generic-param )` (RFC 3261 §25.1): gen-value = token / host / quoted-string.
 * Stops before anything that is not a SEMI (a COMMA, or the end).
 */
export function readParams(sc: Scanner): Param[] {
  const params: Param[] = [];
  while (sc.sep(';')) {
    const name = sc.token();
    let value: string | null = null;
    if (sc.sep('=')) value = sc.peek() === '"' ? sc.quotedString() : readGenValue(sc);
    params.push({ name, value });
  }
  return params;
}

function readGenValue(sc: Scanner): string {
  if (sc.peek() === '[') {
    // host = IPv6reference
    const end = sc.text.indexOf(']', sc.pos);
    if (end < 0) sc.fail("']' closing an IPv6 reference");
    const v = sc.text.slice(sc.pos, end + 1);
    sc.pos = end + 1;
    return v;
  }
  const start = sc.pos;
  while (sc.pos < sc.text.length) {
    const c = sc.text.charCodeAt(sc.pos);
    // token chars plus ':' so that an unbracketed IPv6 received= value (RFC 5118 §4.5) is read whole
    if (!isTokenChar(c) && c !== 0x3a) break;
    sc.pos++;
  }
  if (sc.pos === start) sc.fail('a parameter value');
  return sc.text.slice(start, sc.pos);
}

export function getParam(params: readonly Param[], name: string): string | null | undefined {
  // `name` is lower case; most parameters are written so, and compare without a lower-cased copy
  for (const p of params) if (p.name === name || (p.name.length === name.length && p.name.toLowerCase() === name)) return p.value;
  return undefined;
}


export function formatParams(params: readonly Param[]): string {
  let s = '';
  for (const p of params) s += p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`;
  return s;
}


