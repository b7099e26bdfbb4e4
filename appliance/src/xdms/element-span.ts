/**
 * Where an element's text lies in a stored document, so that an element PUT that replaces it can
 * splice the new element's text into the stored text (RFC 4825 §8.2.5) instead of serialising the
 * whole document again. The rest of the document is kept byte for byte, which is also what a
 * client that fetched the document expects of an edit elsewhere in it.
 *
 * The scanner reads only documents we have parsed and stored before: well-formed XML 1.0 without
 * a DOCTYPE (refused at intake, so no entity can stand for markup). It walks markup only: names,
 * quoted attribute values, comments, CDATA sections and processing instructions are skipped by
 * their delimiters (XML 1.0 §2.5–§2.8, §3.1). Anything it does not expect makes it give up (null),
 * and the caller serialises the whole document as before.
 */

/** An element's text: `text.slice(start, end)` is its start tag through its end tag. */
export interface Span {
  start: number;
  end: number;
}

/** Node types of the DOM (W3C DOM Level 2 Core). */
const ELEMENT = 1;

interface Node {
  nodeType: number;
  parentNode: Node | null;
  previousSibling: Node | null;
}

/**
 * The element-child positions from the document element down to `el` (empty for the document
 * element itself), or null when `el` is not in a document.
 */
export function elementPath(el: unknown): number[] | null {
  const path: number[] = [];
  let n = el as Node;
  while (n.parentNode !== null && n.parentNode.nodeType === ELEMENT) {
    let i = 0;
    for (let s = n.previousSibling; s !== null; s = s.previousSibling) if (s.nodeType === ELEMENT) i++;
    path.unshift(i);
    n = n.parentNode;
  }
  return n.parentNode === null ? null : path;
}

/**
 * The span of the element at `path` (element-child positions from the document element), or null
 * when the text does not have the shape the scanner expects.
 *
 * @example elementSpan('<a><b/><c x=">"/></a>', [1]) // { start: 7, end: 17 }
 */
export function elementSpan(text: string, path: readonly number[]): Span | null {
  let i = prologEnd(text);
  if (i < 0 || text[i] !== '<') return null;
  for (const want of path) {
    // inside the element starting at i: to its content, then over `want` element children
    const open = tagEnd(text, i);
    if (open < 0 || text[open - 2] === '/') return null; // an empty element has no children
    i = open;
    let seen = 0;
    for (;;) {
      i = nextMarkup(text, i);
      if (i < 0 || text.startsWith('</', i)) return null; // fewer children than the DOM had
      if (seen === want) break;
      i = elementEnd(text, i);
      if (i < 0) return null;
      seen++;
    }
  }
  const end = elementEnd(text, i);
  return end < 0 ? null : { start: i, end };
}

/** After the XML declaration, comments, PIs and white space before the document element (a BOM too). */
function prologEnd(text: string): number {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (;;) {
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (text.startsWith('<?', i)) i = after(text, '?>', i + 2);
    else if (text.startsWith('<!--', i)) i = after(text, '-->', i + 4);
    else if (text.startsWith('<!', i)) return -1; // a DOCTYPE: never stored, not handled
    else return i;
    if (i < 0) return -1;
  }
}

/**
 * From `i` (in content), the next start or end tag, skipping character data, comments, CDATA
 * sections and PIs; -1 at the end of the text.
 */
function nextMarkup(text: string, i: number): number {
  for (;;) {
    i = text.indexOf('<', i);
    if (i < 0) return -1;
    if (text.startsWith('<!--', i)) i = after(text, '-->', i + 4);
    else if (text.startsWith('<![CDATA[', i)) i = after(text, ']]>', i + 9);
    else if (text.startsWith('<?', i)) i = after(text, '?>', i + 2);
    else if (text.startsWith('<!', i)) return -1;
    else return i;
    if (i < 0) return -1;
  }
}

/** From the '<' of a start tag, the index after its '>' (attribute values may hold '>'); -1 if none. */
function tagEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x22 /* " */ || c === 0x27 /* ' */) {
      j = text.indexOf(c === 0x22 ? '"' : "'", j + 1);
      if (j < 0) return -1;
    } else if (c === 0x3e /* > */) return j + 1;
  }
  return -1;
}

/** From the '<' of a start tag, the index after the element's end tag (or its empty-element tag). */
function elementEnd(text: string, i: number): number {
  let j = tagEnd(text, i);
  if (j < 0) return -1;
  if (text[j - 2] === '/') return j;
  let depth = 1;
  while (depth > 0) {
    j = nextMarkup(text, j);
    if (j < 0) return -1;
    if (text.startsWith('</', j)) {
      depth--;
      j = text.indexOf('>', j + 2);
      if (j < 0) return -1;
      j++;
    } else {
      const e = tagEnd(text, j);
      if (e < 0) return -1;
      if (text[e - 2] !== '/') depth++;
      j = e;
    }
  }
  return j;
}

function after(text: string, delimiter: string, from: number): number {
  const k = text.indexOf(delimiter, from);
  return k < 0 ? -1 : k + delimiter.length;
}

/** XML 1.0 §2.3 S: space, tab, carriage return, line feed. */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}
