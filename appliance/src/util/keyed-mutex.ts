/**
 * Runs async work one at a time per key, and forgets a key once its queue is empty.
 * Users: XCAP edits per document (an element PUT reads, edits, validates and writes the
 * document; two on the same document must not interleave, or a client without If-Match
 * would see a 412 caused by another client's edit) and REGISTER per address-of-record
 * (the contact limit must hold however many REGISTERs arrive at once).
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
