/**
 * An XCAP failure with its RFC 4825 §11 error body. 409 conditions carry an
 * `application/xcap-error+xml` document naming the condition; other statuses
 * (403, 404, 412 …) carry a short text.
 */
export class XcapError extends Error {
  constructor(
    readonly status: number,
    /** the §11 condition element, e.g. "not-well-formed"; null for non-409 errors */
    readonly condition: string | null,
    message: string,
    /** extra XML inside the condition element (e.g. <alt-value>) or attributes text; response headers (Retry-After) */
    readonly detail: { phrase?: string; inner?: string; attrs?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'XcapError';
  }

  /** The xcap-error document (RFC 4825 §11.2 schema). */
  body(): string {
    if (this.condition === null) return this.message;
    const phrase = this.detail.phrase ?? this.message;
    const attrs = `${this.detail.attrs ?? ''}${phrase ? ` phrase="${escapeAttr(phrase)}"` : ''}`;
    const el = this.detail.inner ? `<${this.condition}${attrs}>${this.detail.inner}</${this.condition}>` : `<${this.condition}${attrs}/>`;
    return `<?xml version="1.0" encoding="UTF-8"?>\n<xcap-error xmlns="urn:ietf:params:xml:ns:xcap-error">${el}</xcap-error>\n`;
  }
}

/** Escapes text content for an error report (`<ancestor>`). */
export function escapeText(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

export function escapeAttr(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
}

export const conflict = (condition: string, message: string, detail?: XcapError['detail']): XcapError => new XcapError(409, condition, message, detail);
