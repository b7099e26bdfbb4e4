import { canonicalName, headerKey } from './header-names.js';

interface Entry {
  key: string;
  name: string;
  /** the value while there is one and no list was asked for: most fields have one, read with `get` */
  first: string;
  /** every value, once made (on the first `all` or a second value): then the only record of them */
  values: string[] | null;
}

/** All values of an entry, as a list (made once, on first use). */
function valuesOf(e: Entry): string[] {
  return (e.values ??= [e.first]);
}

/**
 * The header fields of one message, grouped by name in first-seen order
 * (RFC 3261 §7.3.1: only the order of same-named fields is significant).
 *
 * A plain list searched in order, not a Map: a message has a dozen names, a scan of them costs
 * less than hashing a freshly lower-cased name, and every message we parse or build has one of
 * these, whose Map tables (grown 4, 8, 16) were a tenth of what the relay path allocated.
 */
export class Headers {
  private readonly list: Entry[] = [];

  private find(key: string): Entry | undefined {
    const at = this.indexOf(key);
    return at < 0 ? undefined : this.list[at];
  }

  private indexOf(key: string): number {
    const list = this.list;
    for (let i = 0; i < list.length; i++) if (list[i].key === key) return i;
    return -1;
  }

  /** All values of a header (by any spelling of its name), or an empty list. */
  all(name: string): readonly string[] {
    const entry = this.find(headerKey(name));
    return entry === undefined ? [] : valuesOf(entry);
  }

  get(name: string): string | undefined {
    const entry = this.find(headerKey(name));
    return entry === undefined ? undefined : entry.values === null ? entry.first : entry.values[0];
  }

  has(name: string): boolean {
    return this.find(headerKey(name)) !== undefined;
  }

  /** `has` for a key already in its lower-case long form. */
  hasKey(key: string): boolean {
    return this.indexOf(key) >= 0;
  }

  /** Appends a value (keys must already be lower-case long names for the fast path). */
  append(key: string, value: string, spelling?: string): void {
    const entry = this.find(key);
    if (entry) valuesOf(entry).push(value);
    else this.list.push({ key, name: spelling ?? canonicalName(key), first: value, values: null });
  }

  prepend(name: string, value: string): void {
    const key = headerKey(name);
    const entry = this.find(key);
    if (entry) valuesOf(entry).unshift(value);
    else this.list.push({ key, name: canonicalName(key), first: value, values: null });
  }

  set(name: string, value: string | readonly string[]): void {
    const key = headerKey(name);
    const first = typeof value === 'string' ? value : '';
    const values = typeof value === 'string' ? null : [...value];
    const entry = this.find(key);
    if (entry) {
      entry.first = first;
      entry.values = values;
    } else this.list.push({ key, name: canonicalName(key), first, values });
  }

  delete(name: string): void {
    const at = this.indexOf(headerKey(name));
    if (at >= 0) this.list.splice(at, 1);
  }

  /** A copy that can be changed without touching this one. */
  clone(): Headers {
    const copy = new Headers();
    for (const e of this.list) copy.list.push({ key: e.key, name: e.name, first: e.first, values: e.values === null ? null : e.values.slice() });
    return copy;
  }

  /**
   * The fields in wire form, `Name: value` and CRLF each, leaving out `except` (a key). One
   * string built in place: the serializer runs for every message we send, and a generator's
   * entry tuples were a twentieth of all the bytes the relay path allocated.
   */
  format(except: string): string {
    let s = '';
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (e.key === except) continue;
      if (e.values === null) s += `${e.name}: ${e.first}\r\n`;
      else for (let j = 0; j < e.values.length; j++) s += `${e.name}: ${e.values[j]}\r\n`;
    }
    return s;
  }
}
