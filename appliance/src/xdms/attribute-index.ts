import { DOMParser } from '@xmldom/xmldom';
import type { DocumentKey, DocumentStore } from './document-store.js';

/**
 * Which documents of one usage hold a given value of `element@attribute`
 * (group URIs, RLS service URIs), built once from the store and rebuilt after
 * a change to that usage. Serves server-wide uniqueness checks and group lookups.
 */
export class AttributeIndex {
  private index: Map<string, DocumentKey[]> | null = null;
  /** Bumped by every change to the usage: a build that read the store before it is not kept. */
  private generation = 0;

  constructor(
    private readonly store: DocumentStore,
    readonly auid: string,
    private readonly ns: string,
    private readonly element: string,
    private readonly attribute: string,
  ) {
    store.onChange((change) => {
      if (change.auid !== auid) return;
      this.index = null;
      this.generation++;
    });
  }

  /** Values are compared case-insensitively (URIs of our domain). */
  async documentsWith(value: string): Promise<DocumentKey[]> {
    return (await this.build()).get(value.toLowerCase()) ?? [];
  }

  /** Every value used by a document other than `except`. */
  async valuesOutside(except: DocumentKey): Promise<Set<string>> {
    const out = new Set<string>();
    for (const [value, keys] of await this.build()) {
      if (keys.some((k) => k.owner !== except.owner || k.path !== except.path)) out.add(value);
    }
    return out;
  }

  private async build(): Promise<Map<string, DocumentKey[]>> {
    if (this.index) return this.index;
    const generation = this.generation;
    const index = new Map<string, DocumentKey[]>();
    for (const row of await this.store.listAuid(this.auid)) {
      const doc = new DOMParser().parseFromString(row.content, 'text/xml');
      const els = doc.getElementsByTagNameNS(this.ns, this.element);
      for (let i = 0; i < els.length; i++) {
        const v = els[i].getAttribute(this.attribute);
        if (v === null) continue;
        const key = { auid: row.auid, owner: row.owner, path: row.path };
        index.set(v.toLowerCase(), [...(index.get(v.toLowerCase()) ?? []), key]);
      }
    }
    // a change committed while listAuid was reading may be missing from these rows:
    // answer this caller with them, but let the next one read the store again
    if (generation === this.generation) this.index = index;
    return index;
  }
}
