import { canonicalName, headerKey } from './header-names.js';

interface Entry {
  name: string;
  values: string[];
}

/**
 * The header fields of one message, grouped by name in first-seen order
 * (RFC 3261 §7.3.1: only the order of same-named fields is significant).
 */
export class Headers {
  private readonly map = new Map<string, Entry>();

  /** All values of a header (by any spelling of its name), or an empty list. */
  all(name: string): readonly string[] {
    return this.map.get(headerKey(name))?.values ?? [];
  }

  get(name: string): string | undefined {
    return this.map.get(headerKey(name))?.values[0];
  }

  has(name: string): boolean {
    return this.map.has(headerKey(name));
  }

  /** Appends a value (keys must already be lower-case long names for the fast path). */
  append(key: string, value: string, spelling?: string): void {
    const entry = this.map.get(key);
    if (entry) entry.values.push(value);
    else this.map.set(key, { name: spelling ?? canonicalName(key), values: [value] });
  }

  prepend(name: string, value: string): void {
    const key = headerKey(name);
    const entry = this.map.get(key);
    if (entry) entry.values.unshift(value);
    else this.map.set(key, { name: canonicalName(key), values: [value] });
  }

  set(name: string, value: string | readonly string[]): void {
    const key = headerKey(name);
    const values = typeof value === 'string' ? [value] : [...value];
    const entry = this.map.get(key);
    if (entry) entry.values = values;
    else this.map.set(key, { name: canonicalName(key), values });
  }

  delete(name: string): void {
    this.map.delete(headerKey(name));
  }

  /** A copy that can be changed without touching this one. */
  clone(): Headers {
    const copy = new Headers();
    for (const [key, e] of this.map) copy.map.set(key, { name: e.name, values: e.values.slice() });
    return copy;
  }

  *entries(): IterableIterator<[key: string, name: string, values: string[]]> {
    for (const [key, e] of this.map) yield [key, e.name, e.values];
  }
}
