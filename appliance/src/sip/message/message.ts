import { Headers } from './headers.js';
import { type NameAddr, parseNameAddr, parseNameAddrList } from './name-addr.js';
import { type Via, parseViaList } from './via.js';
import { type Uri, type SipUri, isSipUri } from './uri.js';
import { getParam } from './params.js';
import { splitCommaList, SyntaxFault } from './scanner.js';

export interface CSeq {
  seq: number;
  method: string;
}

/** Shared parts of requests and responses; structured headers are parsed once, on first use. */
export abstract class SipMessage {
  headers: Headers;
  body: Buffer;
  /**
   * The message as it arrived in one datagram, for relaying it unchanged (a response less our
   * Via); null for messages we build. It does not follow later changes to `headers`.
   */
  raw: Buffer | null = null;
  // the parsed views, each read on first use; fields of their own rather than an object whose
  // shape grows with each (one object, one layout, for every message)
  private viaCache: Via[] | undefined = undefined;
  private fromCache: NameAddr | undefined = undefined;
  private toCache: NameAddr | undefined = undefined;
  private cseqCache: CSeq | undefined = undefined;
  private contactsCache: NameAddr[] | '*' | undefined = undefined;

  constructor(headers: Headers, body: Buffer) {
    this.headers = headers;
    this.body = body;
  }

  abstract readonly isRequest: boolean;

  /** Forgets parsed views after the headers were changed. */
  invalidate(): void {
    this.viaCache = undefined;
    this.fromCache = undefined;
    this.toCache = undefined;
    this.cseqCache = undefined;
    this.contactsCache = undefined;
  }

  get vias(): Via[] {
    if (this.viaCache === undefined) {
      const values = this.headers.all('via');
      if (values.length === 1) this.viaCache = parseViaList(values[0]);
      else {
        const list: Via[] = [];
        for (const v of values) list.push(...parseViaList(v));
        this.viaCache = list;
      }
    }
    return this.viaCache;
  }

  /** Replaces the Via header values, with their parsed form when the caller has it. */
  setVias(values: string[], parsed?: Via[]): void {
    this.headers.set('via', values);
    this.viaCache = parsed;
  }

  get topVia(): Via {
    const v = this.vias[0];
    if (v === undefined) throw new SyntaxFault('Missing Via header');
    return v;
  }

  get from(): NameAddr {
    return (this.fromCache ??= parseNameAddr(this.required('from'), 'From'));
  }

  get to(): NameAddr {
    return (this.toCache ??= parseNameAddr(this.required('to'), 'To'));
  }

  get fromTag(): string | undefined {
    return getParam(this.from.params, 'tag') ?? undefined;
  }

  get toTag(): string | undefined {
    return getParam(this.to.params, 'tag') ?? undefined;
  }

  get callId(): string {
    return this.required('call-id');
  }

  get cseq(): CSeq {
    if (this.cseqCache === undefined) {
      const value = this.required('cseq');
      // the common "1 MESSAGE" read in place, anything else by the pattern
      const space = value.indexOf(' ');
      let seq = space > 0 && space <= 10 ? digitsValue(value, 0, space) : -1;
      let method = seq >= 0 ? value.slice(space + 1) : '';
      if (seq < 0 || method.length === 0 || method.includes(' ') || method.includes('\t')) {
        const m = /^([0-9]{1,10})[ \t]+([^ \t]+)$/.exec(value);
        if (m === null) throw new SyntaxFault('Malformed CSeq');
        seq = Number(m[1]);
        method = m[2];
      }
      // RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31
      if (seq >= 2 ** 31) throw new SyntaxFault('CSeq number out of range');
      this.cseqCache = { seq, method };
    }
    return this.cseqCache;
  }

  /** Contact header as name-addrs, or '*' (RFC 3261 §10.2.2). */
  get contacts(): NameAddr[] | '*' {
    if (this.contactsCache === undefined) {
      const values = this.headers.all('contact');
      if (values.length === 1 && values[0].trim() === '*') this.contactsCache = '*';
      else {
        const list: NameAddr[] = [];
        for (const v of values) {
          if (v.trim() === '*') throw new SyntaxFault("Contact '*' mixed with other contacts");
          list.push(...parseNameAddrList(v, 'Contact'));
        }
        this.contactsCache = list;
      }
    }
    return this.contactsCache;
  }

  /** Token list headers such as Require, Supported, Allow (lower-cased tokens). */
  tokens(name: string): string[] {
    const out: string[] = [];
    for (const v of this.headers.all(name)) for (const t of splitCommaList(v)) out.push(t.toLowerCase());
    return out;
  }

  protected required(name: string): string {
    const v = this.headers.get(name);
    if (v === undefined) throw new SyntaxFault(`Missing ${name} header`);
    return v;
  }
}

/** The number written in `s[from, to)` in decimal digits, or -1 when another character is there. */
function digitsValue(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

export class SipRequest extends SipMessage {
  readonly isRequest = true;
  method: string;
  /** Request-URI as text (what we forward) and parsed */
  uriText: string;
  uri: Uri;

  constructor(method: string, uri: Uri, uriText: string, headers: Headers, body: Buffer) {
    super(headers, body);
    this.method = method;
    this.uri = uri;
    this.uriText = uriText;
  }

  get sipUri(): SipUri | null {
    return isSipUri(this.uri) ? this.uri : null;
  }

  get maxForwards(): number | null {
    const v = this.headers.get('max-forwards');
    return v === undefined ? null : Number(v);
  }
}

export class SipResponse extends SipMessage {
  readonly isRequest = false;
  status: number;
  reason: string;

  constructor(status: number, reason: string, headers: Headers, body: Buffer) {
    super(headers, body);
    this.status = status;
    this.reason = reason;
  }
}

export type AnyMessage = SipRequest | SipResponse;
