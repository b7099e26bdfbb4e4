import { createHash } from 'node:crypto';
import type { DataSource, EntityManager, Repository } from 'typeorm';
import { XcapDocumentEntity, type XcapDocumentRow } from '../store/entities.js';
import { writesOf, type WriteQueue } from '../store/write-queue.js';
import { followedDocumentsTopic, markChanged, type StoreTopic } from '../store/store-changes.js';
import type { Logger } from '../log.js';
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

/**
 * RFC 9110 §13.1.1/§13.1.2: "*" asks whether the target resource exists, a list of
 * entity tags compares with its current one. For an element or attribute URI the
 * target is that node, while its entity tag is the document's (RFC 4825 §7.11:
 * every resource in a document shares the document's ETag), so the two can differ.
 */
function matches(header: string, etag: string | null, exists: boolean): boolean {
  if (header.trim() === '*') return exists;
  return etag !== null && header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/**
 * Checks If-Match / If-None-Match against the current ETag (RFC 9110 §13.1):
 * a failed condition is a 412 for writes, a 304 for reads. `exists` is whether
 * the selected resource exists (by default: whether there is a document).
 */
export function checkPreconditions(p: Preconditions, current: string | null, isRead: boolean, exists = current !== null): 'ok' | 'not-modified' {
  if (p.ifMatch !== undefined && !matches(p.ifMatch, current, exists)) throw new XcapError(412, null, 'Precondition Failed: If-Match');
  if (p.ifNoneMatch !== undefined && matches(p.ifNoneMatch, current, exists)) {
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
  /** the two statements of an element edit, with named parameters (the driver turns them into its own placeholders) */
  private readonly sql: { etag: string; replace: string };

  constructor(
    private readonly ds: DataSource,
    private readonly log?: Logger,
  ) {
    this.repo = ds.getRepository(XcapDocumentEntity);
    this.writes = writesOf(ds);
    const meta = ds.getMetadata(XcapDocumentEntity);
    const col = (property: string): string => ds.driver.escape(meta.findColumnWithPropertyName(property)!.databaseName);
    const table = ds.driver.escape(meta.tableName);
    const where = `${col('auid')} = :auid AND ${col('owner')} = :owner AND ${col('path')} = :path`;
    this.sql = {
      etag: `SELECT ${col('etag')} AS etag FROM ${table} WHERE ${where}`,
      replace: `UPDATE ${table} SET ${col('content')} = :content, ${col('etag')} = :etag, ${col('updatedAt')} = :updatedAt WHERE ${where} AND ${col('etag')} = :ifMatch`,
    };
  }

  /**
   * Runs one of `this.sql` through the driver without a query builder: on the
   * path of every element edit, TypeORM's builders cost several times the
   * statement itself. The SQL is built from the entity's metadata and the
   * driver's quoting and placeholders, so it is the same on every database.
   */
  private async raw(sql: string, params: Record<string, unknown>, em?: EntityManager): Promise<{ records: unknown[]; affected: number | undefined }> {
    const [query, values] = this.ds.driver.escapeQueryWithParameters(sql, params, {});
    const runner = em?.queryRunner ?? this.ds.createQueryRunner();
    try {
      const result = await runner.query(query, values, true);
      return { records: Array.isArray(result.records) ? result.records : [], affected: result.affected ?? undefined };
    } finally {
      if (em?.queryRunner === undefined) await runner.release();
    }
  }

  /** Called after every committed change (caches of parsed documents, xcap-diff). */
  onChange(listener: (change: DocumentChange) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Tells every listener. The change is committed by now, so a listener that
   * throws must not turn it into a failed request, nor keep the others from
   * hearing of it: its error is logged and the next one is called.
   */
  private changed(change: DocumentChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.log?.error({ err, auid: change.auid, owner: change.owner, path: change.path }, 'document change listener failed');
      }
    }
  }

  get(key: DocumentKey): Promise<XcapDocumentRow | null> {
    return this.repo.findOneBy({ auid: key.auid, owner: key.owner, path: key.path });
  }

  /** The current ETag of a document (null if there is none), without reading its content. */
  async currentEtag(key: DocumentKey): Promise<string | null> {
    const { records } = await this.raw(this.sql.etag, { auid: key.auid, owner: key.owner, path: key.path });
    return (records[0] as { etag?: string } | undefined)?.etag ?? null;
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
      markFollowed(em, key.auid);
      const etag = etagOf(content);
      if (current) await repo.update({ id: current.id }, { content, etag, updatedAt: Date.now() });
      else await repo.insert({ ...key, content, etag, updatedAt: Date.now() });
      return { etag, created: current === null, previous: current?.etag ?? null };
    });
    if (result.previous !== result.etag) this.changed({ ...key, previousEtag: result.previous, newEtag: result.etag });
    return { etag: result.etag, created: result.created };
  }

  /** Deletes every document of one owner (a removed user); each deletion is a change like any other. Returns how many. */
  async deleteOwner(owner: string): Promise<number> {
    const gone = await this.writes.transaction(async (em) => {
      const repo = em.getRepository(XcapDocumentEntity);
      const rows = await repo.find({ where: { owner }, select: { id: true, auid: true, owner: true, path: true, etag: true } });
      if (rows.length > 0) await repo.delete({ owner });
      for (const auid of new Set(rows.map((r) => r.auid))) markFollowed(em, auid);
      return rows;
    });
    for (const r of gone) this.changed({ auid: r.auid, owner: r.owner, path: r.path, previousEtag: r.etag, newEtag: null });
    return gone.length;
  }

  /**
   * Replaces a document that must still be at `ifMatch` (an element or attribute
   * edit made on that state, RFC 4825 §8.2.5): one conditional UPDATE in the
   * write queue, whose condition is the precondition, so no read of the row is
   * needed; 412 if the document changed or is gone meanwhile.
   */
  async replace(key: DocumentKey, content: string, ifMatch: string, etag = etagOf(content)): Promise<{ etag: string; created: boolean }> {
    const { affected } = await this.writes.transaction((em) => {
      markFollowed(em, key.auid);
      return this.raw(this.sql.replace, { content, etag, updatedAt: Date.now(), auid: key.auid, owner: key.owner, path: key.path, ifMatch }, em);
    });
    if (affected !== 1) throw new XcapError(412, null, 'Precondition Failed: If-Match');
    if (ifMatch !== etag) this.changed({ ...key, previousEtag: ifMatch, newEtag: etag });
    return { etag, created: false };
  }

  async delete(key: DocumentKey, pre: Preconditions): Promise<void> {
    const previous = await this.writes.transaction(async (em) => {
      const repo = em.getRepository(XcapDocumentEntity);
      const current = await repo.findOneBy({ auid: key.auid, owner: key.owner, path: key.path });
      if (current === null) throw new XcapError(404, null, 'No such document');
      checkPreconditions(pre, current.etag, false);
      markFollowed(em, key.auid);
      await repo.delete({ id: current.id });
      return current.etag;
    });
    this.changed({ ...key, previousEtag: previous, newEtag: null });
  }
}

/** Marks the usage's topic in this write when a node follows its documents (store-changes.ts). */
function markFollowed(em: EntityManager, auid: string): void {
  const topic: StoreTopic | null = followedDocumentsTopic(auid);
  if (topic !== null) markChanged(em, topic);
}
