/**
 * The media type of a Content-Type value (RFC 3261 §20.15, RFC 2045 §5.1), lower-cased and
 * without parameters: "Application/XML; charset=utf-8" is "application/xml". '' when absent.
 */
export function mediaTypeOf(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}
