import { createHash } from 'node:crypto';
import type { DataSource, Repository } from 'typeorm';
import { XcapDocumentEntity, type XcapDocumentRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import { XcapError } from './xcap-error.js';

export interface DocumentKey {
  auid: string;
  /** '' for global documents */
  owner: string;
  path: string;
}

/** A committed change: etags are null for a document that did not exist before, or no longer does. */
export interface DocumentChange extends DocumentKey {
  previousEtag: string | null;
  newEtag: string | null;
}

export interface Preconditions {
  ifMatch?: string;
  ifNoneMatch?: string;
}

/** A strong ETag (RFC 9110 §8.8.3): a hash of the stored bytes, so equal content means equal tag. */
export function etagOf(content: string): string {
  return `"${createHash('sha256').update(content).digest('base64url').slice(0, 27)}"`;
}

function matches(header: string, etag: string | null): boolean {
  if (header.trim() === '*') return etag !== null;
  return etag !== null && header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/**
 * Checks If-Match / If-None-Match against the current ETag (RFC 9110 §13.1):
 * a failed condition is a 412 for writes, a 304 for reads.
 */
export function checkPreconditions(p: Preconditions, current: string | null, isRead: boolean): 'ok' | 'not-modified' {
  if (p.ifMatch !== undefined && !matches(p.ifMatch, current)) throw new XcapError(412, null, 'Precondition Failed: If-Match');
  if (p.ifNoneMatch !== undefined && matches(p.ifNoneMatch, current)) {
    if (isRead) return 'not-modified';
    throw new XcapError(412, null, 'Precondition Failed: If-None-Match');
  }
  return 'ok';
}

/** XCAP documents in the store, one row each (X1). Writes are atomic and serialised with the rest of the store. */
export class DocumentStore {
  private readonly repo: Repository<XcapDocumentRow>;
  private readonly writes: WriteQueue;
  private readonly listeners: ((change: DocumentChange) => void)[] = [];

  constructor(ds: DataSource) {
    this.repo = ds.getRepository(XcapDocumentEntity);
    this.writes = writesOf(ds);
  }

  /** Called after every committed change (caches of parsed documents, xcap-diff). */
  onChange(listener: (change: DocumentChange) => void): void {
    this.listeners.push(listener);
  }

  private changed(change: DocumentChange): void {
    for (const l of this.listeners) l(change);
  }

  get(key: DocumentKey): Promise<XcapDocumentRow | null> {
    return this.repo.findOneBy({ auid: key.auid, owner: key.owner, path: key.path });
  }

  /** Every document of one application usage (for indexes such as group URIs). */
  listAuid(auid: string): Promise<XcapDocumentRow[]> {
    return this.repo.find({ where: { auid } });
  }

  /** Every document of one owner, without content (the xcap-directory usage). */
  async listOwner(owner: string): Promise<{ auid: string; path: string; etag: string; updatedAt: number; size: number }[]> {
    const rows = await this.repo.find({ where: { owner }, order: { auid: 'ASC', path: 'ASC' } });
    return rows.map((r) => ({ auid: r.auid, path: r.path, etag: r.etag, updatedAt: r.updatedAt, size: Buffer.byteLength(r.content) }));
  }

  /**
   * Replaces (or creates) a document after checking the preconditions against
   * what is stored inside the same transaction, so two writers cannot both win.
   */
  async put(key: DocumentKey, content: string, pre: Preconditions): Promise<{ etag: string; created: boolean }> {
    const result = await this.writes.transaction(async (em) => {
      const repo = em.getRepository(XcapDocumentEntity);
      const current = await repo.findOneBy({ auid: key.auid, owner: key.owner, path: key.path });
      checkPreconditions(pre, current?.etag ?? null, false);
      const etag = etagOf(content);
      if (current) await repo.update({ id: current.id }, { content, etag, updatedAt: Date.now() });
      else await repo.insert({ ...key, content, etag, updatedAt: Date.now() });
      return { etag, created: current === null, previous: current?.etag ?? null };
    });
    if (result.previous !== result.etag) this.changed({ ...key, previousEtag: result.previous, newEtag: result.etag });
    return { etag: result.etag, created: result.created };
  }

  async delete(key: DocumentKey, pre: Preconditions): Promise<void> {
    const previous = await this.writes.transaction(async (em) => {
      const repo = em.getRepository(XcapDocumentEntity);
      const current = await repo.findOneBy({ auid: key.auid, owner: key.owner, path: key.path });
      if (current === null) throw new XcapError(404, null, 'No such document');
      checkPreconditions(pre, current.etag, false);
      await repo.delete({ id: current.id });
      return current.etag;
    });
    this.changed({ ...key, previousEtag: previous, newEtag: null });
  }
}
