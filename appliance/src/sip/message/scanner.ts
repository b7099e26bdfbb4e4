/**
 * A cursor over one header value (already unfolded) with the RFC 3261 §25.1
 * lexical rules our grammar modules share: tokens, LWS, quoted strings.
 * Every failure throws {@link SyntaxFault}, which the parser turns into a 400.
 */
export class SyntaxFault extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyntaxFault';
  }
}

// RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
const TOKEN = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~') TOKEN[c.charCodeAt(0)] = 1;

export function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN[code] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

export class Scanner {
  pos = 0;
  constructor(readonly text: string, readonly what: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  fail(expected: string): never {
    const at = this.done ? 'end of value' : `'${this.text.slice(this.pos, this.pos + 12)}'`;
    throw new SyntaxFault(`Malformed ${this.what}: expected ${expected} at ${at}`);
  }

  /** Skips linear white space (the value is unfolded already, so SP and HTAB). */
  skipWs(): boolean {
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 32 && c !== 9) break;
      this.pos++;
    }
    return this.pos > start;
  }

  /** Consumes `ch` surrounded by optional white space (SEMI, COMMA, EQUAL, SLASH, COLON of §25.1). */
  sep(ch: string): boolean {
    const start = this.pos;
    this.skipWs();
    if (this.text[this.pos] === ch) {
      this.pos++;
      this.skipWs();
      return true;
    }
    this.pos = start;
    return false;
  }

  expectSep(ch: string): void {
    if (!this.sep(ch)) this.fail(`'${ch}'`);
  }

  token(): string {
    const start = this.pos;
    while (this.pos < this.text.length && isTokenChar(this.text.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) this.fail('a token');
    return this.text.slice(start, this.pos);
  }

  /** quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE; returns the raw text including quotes. */
  quotedString(): string {
    const start = this.pos;
    if (this.text[this.pos] !== '"') this.fail('a quoted string');
    this.pos++;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x22) {
        this.pos++;
        return this.text.slice(start, this.pos);
      }
      if (c === 0x5c) {
        // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
        const next = this.text.charCodeAt(this.pos + 1);
        if (Number.isNaN(next) || next === 0x0a || next === 0x0d || next > 0x7f) this.fail('a valid quoted-pair');
        this.pos += 2;
        continue;
      }
      this.pos++;
    }
    throw new SyntaxFault(`Malformed ${this.what}: unterminated quoted string`);
  }

  /** Reads up to (not including) any char in `stops`, outside quotes and angle brackets. */
  until(stops: string): string {
    const start = this.pos;
    let quoted = false;
    let angle = false;
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos];
      if (quoted) {
        if (ch === '\\') this.pos++;
        else if (ch === '"') quoted = false;
      } else if (ch === '"') quoted = true;
      else if (ch === '<') angle = true;
      else if (ch === '>') angle = false;
      else if (!angle && stops.includes(ch)) break;
      this.pos++;
    }
    return this.text.slice(start, this.pos);
  }

  rest(): string {
    const s = this.text.slice(this.pos);
    this.pos = this.text.length;
    return s;
  }
}

/** Removes the quotes and quoted-pair escapes of a quoted-string. */
export function unquote(s: string): string {
  if (s.length < 2 || s[0] !== '"') return s;
  const inner = s.slice(1, -1);
  // most quoted values (every digest parameter) hold no escape: no regular expression run for them
  return inner.includes('\\') ? inner.replace(/\\(.)/gs, '$1') : inner;
}

export function quote(s: string): string {
  return `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * Splits a comma-joined header value (RFC 3261 §7.3.1) into its elements,
 * honouring quoted strings and angle brackets.
 */
export function splitCommaList(value: string): string[] {
  const out: string[] = [];
  const sc = new Scanner(value, 'header');
  while (!sc.done) {
    const part = sc.until(',').trim();
    if (part.length > 0) out.push(part);
    sc.pos++;
  }
  return out;
}
