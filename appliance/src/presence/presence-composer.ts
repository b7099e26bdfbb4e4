import type { Element } from '@xmldom/xmldom';
import type { DocumentStore } from '../xdms/document-store.js';
import type { LocationService } from '../core/location-service.js';
import type { Logger } from '../log.js';
import type { Publications } from './publications.js';
import { parsePidf, writePidf, basicTuple, PIDF, type PidfParts } from './pidf.js';
import { EVERYTHING, type Transformations } from './pres-rules.js';
import { childElements } from '../xdms/dom.js';

/** The pidf-manipulation usage (RFC 4827): a presence source kept in the IM XDMS. */
export const PIDF_MANIPULATION_AUID = 'pidf-manipulation';
/** The id of the tuple that stands for registration state (R4). */
export const REGISTRATION_TUPLE = 'parley-registration';

/** One source of presence state with the time it last changed. */
interface Source {
  parts: PidfParts;
  updatedAt: number;
}

/** One view of the composed document: its text, and its UTF-8 bytes once a NOTIFY asked for them. */
interface View {
  text: string;
  bytes: Buffer | null;
}

interface Composed {
  version: number;
  parts: PidfParts;
  /**
   * filtered documents by permission key (and the neutral one), written and encoded once per
   * change for every watcher alike: a fan-out to thousands shares one Buffer per distinct view
   */
  views: Map<string, View>;
}

/** Permission keys by transformations object: each subscription keeps its own, so the key is worked out once per subscription. */
const keys = new WeakMap<Transformations, string>();

/**
 * Composes one presence document per presentity (R1) from its sources: the PUBLISHed states of
 * its devices (RFC 3903), its pidf-manipulation document (RFC 4827), and its registration state
 * (R4). The policy (README: presence):
 * - tuples, devices: all of them, keyed by id; where two sources have the same id the most
 *   recent source wins;
 * - person: one <dm:person> whose children are merged by element name, each name taken from the
 *   most recent source that has it (the person id is the most recent's);
 * - top-level notes and extensions: from the most recent source that has them;
 * - registration: when no source has a tuple, a tuple `parley-registration` says open while the
 *   user has a binding and closed when the last one goes.
 * Elements are copied as published, so RPID and other extensions are kept intact (RFC 4479).
 */
export class PresenceComposer {
  private readonly cache = new Map<string, Composed>();
  private readonly building = new Map<string, Promise<Composed>>();
  /** bumped by each change of a presentity: a build that a change overtook is not kept */
  private readonly generations = new Map<string, number>();
  private readonly manipulation = new Map<string, Source | null>();
  private version = 0;
  private readonly listeners: ((presentity: string) => void)[] = [];

  constructor(
    private readonly publications: Publications,
    private readonly docs: DocumentStore,
    private readonly location: LocationService,
    private readonly log: Logger,
  ) {
    publications.onChange = (presentity) => this.changed(presentity);
    docs.onChange((c) => {
      if (c.auid !== PIDF_MANIPULATION_AUID || c.owner === '') return;
      this.manipulation.delete(c.owner);
      this.changed(c.owner);
    });
  }

  /** Listeners hear of every change of a presentity's composed state. */
  onChange(listener: (presentity: string) => void): void {
    this.listeners.push(listener);
  }

  /** A presentity's registration state changed (the location service's hook). */
  registrationChanged(aor: string): void {
    this.changed(aor);
  }

  private changed(presentity: string): void {
    this.cache.delete(presentity);
    this.building.delete(presentity);
    this.generations.set(presentity, (this.generations.get(presentity) ?? 0) + 1);
    for (const l of this.listeners) {
      try {
        l(presentity);
      } catch (err) {
        this.log.error({ err, presentity }, 'presence change listener failed');
      }
    }
  }

  /** The composed document as a watcher with `provide` may see it (the presentity sees everything). */
  async document(presentity: string, provide: Transformations = EVERYTHING): Promise<string> {
    return this.view(await this.composed(presentity), presentity, provide).text;
  }

  /** The same as UTF-8 bytes, encoded once per change and view (what a NOTIFY carries). */
  async documentBytes(presentity: string, provide: Transformations = EVERYTHING): Promise<Buffer> {
    const view = this.view(await this.composed(presentity), presentity, provide);
    return (view.bytes ??= Buffer.from(view.text));
  }

  private view(composed: Composed, presentity: string, provide: Transformations): View {
    const key = permissionKey(provide);
    let view = composed.views.get(key);
    if (view === undefined) {
      view = { text: writePidf(presentity, filter(composed.parts, provide)), bytes: null };
      composed.views.set(key, view);
    }
    return view;
  }

  /**
   * What a politely blocked watcher sees (RFC 5025 §3.2.1): exactly what anyone sees of a user
   * who is offline and publishes nothing, so a block cannot be told from absence.
   */
  neutral(presentity: string): string {
    return writePidf(presentity, { tuples: [basicTuple(REGISTRATION_TUPLE, false)], persons: [], devices: [], notes: [], others: [] });
  }

  /** The neutral document's bytes, written once per change of the presentity (like a view). */
  async neutralBytes(presentity: string): Promise<Buffer> {
    const composed = await this.composed(presentity);
    let view = composed.views.get(NEUTRAL);
    if (view === undefined) {
      view = { text: this.neutral(presentity), bytes: null };
      composed.views.set(NEUTRAL, view);
    }
    return (view.bytes ??= Buffer.from(view.text));
  }

  /** Whether the presentity is reachable by presence: a tuple with basic status open (pager, R4). */
  async isOpen(presentity: string): Promise<boolean> {
    const composed = await this.composed(presentity);
    return composed.parts.tuples.some((t) => {
      const basic = childElements<Element>(childElements<Element>(t, PIDF, 'status')[0] ?? t, PIDF, 'basic')[0];
      return basic?.textContent?.trim() === 'open';
    });
  }

  /**
   * The composed state, built once per change: a fan-out to thousands of watchers asks for it
   * thousands of times at once, so the build in flight is shared (`building`).
   */
  private composed(presentity: string): Promise<Composed> {
    const cached = this.cache.get(presentity);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.building.get(presentity);
    if (pending === undefined) {
      pending = this.build(presentity).finally(() => {
        if (this.building.get(presentity) === pending) this.building.delete(presentity);
      });
      this.building.set(presentity, pending);
    }
    return pending;
  }

  private async build(presentity: string): Promise<Composed> {
    const version = ++this.version;
    const generation = this.generations.get(presentity) ?? 0;
    const sources: Source[] = this.publications.of(presentity).map((p) => ({ parts: p.parts, updatedAt: p.updatedAt }));
    const manip = await this.manipulationOf(presentity);
    if (manip !== null) sources.push(manip);
    sources.sort((a, b) => b.updatedAt - a.updatedAt);
    const parts = merge(sources);
    if (parts.tuples.length === 0) parts.tuples.push(basicTuple(REGISTRATION_TUPLE, this.location.lookup(presentity).length > 0));
    const composed: Composed = { version, parts, views: new Map() };
    // a change that came while the manipulation document was being read dropped the cache entry: keep this only if none did
    if ((this.generations.get(presentity) ?? 0) === generation) this.cache.set(presentity, composed);
    return composed;
  }

  private async manipulationOf(presentity: string): Promise<Source | null> {
    if (this.manipulation.has(presentity)) return this.manipulation.get(presentity)!;
    const row = await this.docs.get({ auid: PIDF_MANIPULATION_AUID, owner: presentity, path: 'index' });
    let source: Source | null = null;
    if (row !== null) {
      try {
        source = { parts: parsePidf(Buffer.from(row.content)), updatedAt: row.updatedAt };
      } catch (err) {
        this.log.warn({ err, presentity }, 'pidf-manipulation document not usable as a presence source');
      }
    }
    this.manipulation.set(presentity, source);
    return source;
  }
}

/** Sources most recent first; see the class comment for the policy. */
function merge(sources: Source[]): PidfParts {
  const out: PidfParts = { tuples: [], persons: [], devices: [], notes: [], others: [] };
  const seenTuples = new Set<string>();
  const seenDevices = new Set<string>();
  const personChildren = new Map<string, Element[]>();
  let personId: string | null = null;
  let personTemplate: Element | null = null;
  for (const s of sources) {
    for (const t of s.parts.tuples) {
      const id = t.getAttribute('id')!;
      if (!seenTuples.has(id)) {
        seenTuples.add(id);
        out.tuples.push(t);
      }
    }
    for (const d of s.parts.devices) {
      const id = d.getAttribute('id')!;
      if (!seenDevices.has(id)) {
        seenDevices.add(id);
        out.devices.push(d);
      }
    }
    for (const p of s.parts.persons) {
      personId ??= p.getAttribute('id');
      personTemplate ??= p;
      const names = new Set<string>();
      for (const c of childElements<Element>(p)) {
        const name = `${c.namespaceURI ?? ''}|${c.localName ?? ''}`;
        if (personChildren.has(name) && !names.has(name)) continue; // taken from a more recent source
        names.add(name);
        const list = personChildren.get(name) ?? [];
        list.push(c);
        personChildren.set(name, list);
      }
    }
    if (out.notes.length === 0) out.notes.push(...s.parts.notes);
    for (const o of s.parts.others) {
      if (!out.others.some((x) => x.namespaceURI === o.namespaceURI && x.localName === o.localName)) out.others.push(o);
    }
  }
  if (personTemplate !== null) {
    const person = personTemplate.ownerDocument!.createElementNS(personTemplate.namespaceURI, personTemplate.tagName);
    person.setAttribute('id', personId ?? 'p');
    for (const list of personChildren.values()) for (const c of list) person.appendChild(c.cloneNode(true));
    out.persons.push(person);
  }
  return out;
}

/** The views' key of the neutral document (no permission key looks like it). */
const NEUTRAL = 'neutral';

function permissionKey(p: Transformations): string {
  let key = keys.get(p);
  if (key === undefined) {
    key = `${+p.services}${+p.persons}${+p.devices}${+p.allAttributes}:${[...p.attributes].sort().join(',')}`;
    keys.set(p, key);
  }
  return key;
}

/**
 * Applies a watcher's transformations (RFC 5025 §3.3) to the composed parts. Without
 * provide-all-attributes, tuples keep their status, contact and timestamp, persons and devices
 * only the attributes granted one by one.
 */
function filter(parts: PidfParts, p: Transformations): PidfParts {
  if (p === EVERYTHING || (p.services && p.persons && p.devices && p.allAttributes)) return parts;
  const keep = (el: Element, always: string[]): Element => {
    if (p.allAttributes) return el;
    const copy = el.cloneNode(false) as Element;
    for (const c of childElements<Element>(el)) if (always.includes(c.localName ?? '') || p.attributes.has(c.localName ?? '')) copy.appendChild(c.cloneNode(true));
    return copy;
  };
  return {
    tuples: p.services ? parts.tuples.map((t) => keep(t, ['status', 'contact', 'timestamp', 'deviceID'])) : [],
    persons: p.persons ? parts.persons.map((x) => keep(x, ['timestamp'])) : [],
    devices: p.devices ? parts.devices.map((d) => keep(d, ['deviceID', 'timestamp'])) : [],
    notes: p.attributes.has('note') || p.allAttributes ? parts.notes : [],
    others: p.allAttributes ? parts.others : [],
  };
}
