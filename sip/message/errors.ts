/**
 * Parse errors. One class with a stable `code`, like undici's errors: callers switch on the code,
 * never on the text. The text is a short reason phrase, safe to send as `400 <reason>` (it never
 * echoes bytes from the offending message, so it cannot smuggle CR/LF into a response).
 */

export type ParseErrorCode =
  /** A datagram that held nothing but CR/LF (a keepalive, not a message). */
  | 'EMPTY'
  | 'BAD_START_LINE'
  /** SIP-Version other than SIP/2.0: a server answers 505 Version Not Supported (RFC 3261 §21.5.7). */
  | 'BAD_VERSION'
  | 'BAD_HEADER'
  | 'MISSING_HEADER'
  /** A single-valued header (From, To, Call-ID, CSeq, Max-Forwards, Content-Length) appears twice. */
  | 'DUPLICATE_HEADER'
  | 'BAD_CONTENT_LENGTH'
  | 'BAD_CSEQ'
  | 'BAD_MAX_FORWARDS'
  | 'TOO_LARGE'
  | 'TOO_MANY_HEADERS'
  | 'LINE_TOO_LONG'
  | 'BAD_URI'
  | 'BAD_VIA'
  | 'BAD_NAME_ADDR'
  | 'BAD_PARAM'
  | 'NUL_BYTE'
  /** The bytes end before the header section or the body (Content-Length larger than what arrived). */
  | 'TRUNCATED'
  /** A bug in the parser: an unexpected exception was caught and wrapped. */
  | 'INTERNAL';

export class SipParseError extends Error {
  readonly code: ParseErrorCode;
  /** Canonical name of the header at fault, when there is one. */
  readonly header?: string;

  constructor(code: ParseErrorCode, reason: string, header?: string) {
    super(reason);
    this.name = 'SipParseError';
    this.code = code;
    if (header !== undefined) this.header = header;
  }
}

export function isSipParseError(e: unknown): e is SipParseError {
  return e instanceof SipParseError;
}
