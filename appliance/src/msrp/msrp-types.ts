/**
 * MSRP message types (RFC 4975 §7): a request (SEND, REPORT, or an extension method we refuse
 * with 501) or a response, each bound to its transaction id.
 */
export interface MsrpRequest {
  kind: 'request';
  tid: string;
  method: string;
  /** header name (lower case) -> value, To-Path and From-Path included */
  headers: Map<string, string>;
  /** null when the request has no body (no Content-Type) */
  body: Buffer | null;
  /** RFC 4975 §7.1: `$` complete, `+` more chunks follow, `#` the sender abandoned the message */
  continuation: '$' | '+' | '#';
}

/** An MSRP response (RFC 4975 §7.2). */
export interface MsrpResponse {
  kind: 'response';
  tid: string;
  status: number;
  comment: string;
  headers: Map<string, string>;
}

export type MsrpMessage = MsrpRequest | MsrpResponse;

/** A Byte-Range header (RFC 4975 §9): start and end are 1-based; end and total are null for `*`. */
export interface ByteRange {
  start: number;
  end: number | null;
  total: number | null;
}

/**
 * A failure carrying its MSRP status (RFC 4975 §10): thrown by parsers and sessions, turned into
 * a response (or a REPORT) in one place, the connection. Cheap like SipError: no stack capture.
 */
export class MsrpError extends Error {
  readonly status: number;
  readonly comment: string;
  /** true when the byte stream can no longer be framed: the connection must close */
  readonly fatal: boolean;

  constructor(status: number, comment: string, fatal = false) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${status} ${comment}`);
    Error.stackTraceLimit = limit;
    this.name = 'MsrpError';
    this.status = status;
    this.comment = comment;
    this.fatal = fatal;
  }
}

/** The comments we send with each status (RFC 4975 §10). */
export const STATUS_COMMENTS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  408: 'Request Timeout',
  413: 'Message Too Large',
  415: 'Unsupported Media Type',
  423: 'Parameter Out Of Bounds',
  // RFC 7701, named as in the IANA MSRP status code registry
  424: 'Malformed nickname',
  425: 'Nickname reserved or already in use',
  481: 'Session Does Not Exist',
  501: 'Unknown Method',
  506: 'Session Already Bound',
};
