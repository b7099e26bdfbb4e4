/**
 * Runs async work one at a time per key (one XCAP document): an element PUT
 * reads, edits, validates and writes the document, and two of those on the
 * same document must not interleave (a client without If-Match never sees
 * a 412 caused by another client's concurrent edit).
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn, fn);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
