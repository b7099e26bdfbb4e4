/** What every DOM node we walk offers (W3C DOM, as @xmldom/xmldom implements it). */
export interface DomNodeLike {
  nodeType: number;
  childNodes: ArrayLike<DomNodeLike>;
  namespaceURI?: string | null;
  localName?: string | null;
}

/**
 * The element children of a node, optionally only those with a given
 * namespace and local name. One helper for the XDMS and the policies that read its documents.
 */
export function childElements<T>(node: { childNodes: ArrayLike<{ nodeType: number }> }, ns?: string, local?: string): T[] {
  const out: T[] = [];
  for (let i = 0; i < node.childNodes.length; i++) {
    const c = node.childNodes[i] as DomNodeLike;
    if (c.nodeType !== 1) continue;
    if (ns !== undefined && c.namespaceURI !== ns) continue;
    if (local !== undefined && c.localName !== local) continue;
    out.push(c as unknown as T);
  }
  return out;
}
