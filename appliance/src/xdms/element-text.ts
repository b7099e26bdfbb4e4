/**
 * The body of an element GET. RFC 4825 §8.3: the server returns the element as
 * it appears in the document and MUST NOT add namespace bindings for namespaces
 * that are declared in ancestor elements (a client that needs them asks for the
 * namespace bindings resource, §7.10). xmldom's XMLSerializer adds exactly those
 * declarations to keep its output namespace-well-formed, so we write the element
 * ourselves: its own name, its own attributes (its own xmlns declarations among
 * them, in document order), and its content, with nothing added.
 */

interface Attr {
  name: string;
  value: string;
}

interface Node {
  nodeType: number;
  nodeName: string;
  nodeValue: string | null;
  childNodes: ArrayLike<Node>;
  attributes?: ArrayLike<Attr>;
}

const ELEMENT = 1;
const TEXT = 3;
const CDATA = 4;
const PROCESSING_INSTRUCTION = 7;
const COMMENT = 8;

/** Character data: '&' and '<' must be escaped, '>' too so that "]]>" never appears (XML 1.0 §2.4). */
const escapeText = (v: string): string => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Attribute values: besides '&', '<' and '"', whitespace other than a space is
 * written as a character reference, because a parser normalises literal tabs and
 * newlines in attribute values to spaces (XML 1.0 §3.3.3); the value stays what it is.
 */
const escapeAttribute = (v: string): string =>
  v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');

/**
 * The XML text of an element and its content, exactly as the DOM holds it.
 * Stored documents are at most 256 levels deep (libxml2's limit, applied by
 * schema validation before anything is stored), so recursion is safe here.
 *
 * @example elementText(list) // '<list name="friends"><entry uri="sip:bob@example.com"/></list>'
 */
export function elementText(el: unknown): string {
  const out: string[] = [];
  write(el as Node, out);
  return out.join('');
}

function write(node: Node, out: string[]): void {
  switch (node.nodeType) {
    case ELEMENT: {
      out.push('<', node.nodeName);
      const attrs = node.attributes ?? [];
      for (let i = 0; i < attrs.length; i++) out.push(' ', attrs[i].name, '="', escapeAttribute(attrs[i].value), '"');
      if (node.childNodes.length === 0) {
        out.push('/>');
        return;
      }
      out.push('>');
      for (let i = 0; i < node.childNodes.length; i++) write(node.childNodes[i], out);
      out.push('</', node.nodeName, '>');
      return;
    }
    case TEXT:
      out.push(escapeText(node.nodeValue ?? ''));
      return;
    case CDATA:
      out.push('<![CDATA[', node.nodeValue ?? '', ']]>');
      return;
    case COMMENT:
      out.push('<!--', node.nodeValue ?? '', '-->');
      return;
    case PROCESSING_INSTRUCTION:
      out.push('<?', node.nodeName, node.nodeValue ? ` ${node.nodeValue}` : '', '?>');
      return;
    default:
      // entity references cannot occur: documents with DTDs are refused at intake
      return;
  }
}
