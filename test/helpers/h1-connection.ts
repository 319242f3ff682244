// Reads a whole client connection's bytes with Doorman's h1 parsers the way the engine
// will: head, body decision, body scanner, next head; and the same outcome shape that
// the llhttp oracle reports, so the differential test compares like with like.
import { ChunkedBody } from '../../src/h1/chunked.js';
import { bodyKind } from '../../src/h1/body-kind.js';
import { MF_UPGRADE, MF_VER_11, wantsKeepAlive } from '../../src/h1/head.js';
import { parseRequestHead, type RequestHead } from '../../src/h1/request-head.js';

export interface SeenMessage {
  method: string;
  url: string;
  version: string;
  rawHeaders: string[];
  /** The body's payload (chunked bodies decoded). */
  body: Buffer;
  /** The body was read to its end. */
  complete: boolean;
  keepAlive: boolean;
  /** An upgrade or CONNECT: what follows the head is another protocol, nothing more to compare. */
  upgrade: boolean;
}

export interface SeenConnection {
  messages: SeenMessage[];
  /** Why reading stopped early: an error code, 'eof' for a message cut by the end of input; null when clean. */
  error: string | null;
}

export interface DoormanConnection extends SeenConnection {
  /** For an error: true when only CR/LF bytes lay between the last message and the error. */
  betweenMessages: boolean;
  heads: RequestHead[];
}

/** The payload of chunked bytes already validated by ChunkedBody. */
export function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', pos);
    const size = parseInt(raw.toString('latin1', pos, lineEnd).split(';')[0]!, 16);
    if (lineEnd < 0 || !(size >= 0)) throw new Error(`ChunkedBody accepted a malformed body: ${JSON.stringify(raw.toString('latin1'))}`);
    if (size === 0) return Buffer.concat(parts);
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    pos = lineEnd + 2 + size + 2;
  }
}

function onlyLineEnds(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 13 && buf[i] !== 10) return false;
  return true;
}

/** Reads every message of a connection's bytes until the end, an error, a close or an upgrade. */
export function readConnection(buf: Buffer): DoormanConnection {
  const out: DoormanConnection = { messages: [], error: null, betweenMessages: false, heads: [] };
  let pos = 0;
  for (;;) {
    if (pos >= buf.length) return out;
    const result = parseRequestHead(buf, pos);
    if (result.kind === 'partial') {
      // llhttp skips CR and LF between messages; a trailing CRLF is no message.
      if (!onlyLineEnds(buf, pos, buf.length)) out.error = 'eof';
      return out;
    }
    if (result.kind === 'error') {
      out.error = result.code;
      out.betweenMessages = onlyLineEnds(buf, pos, result.pos);
      return out;
    }
    const head = result.head;
    const rawHeaders: string[] = [];
    for (let i = 0; i < head.fieldCount; i++) rawHeaders.push(head.nameAt(i), head.valueAt(i));
    const message: SeenMessage = {
      method: head.method,
      url: head.target,
      version: (head.flags & MF_VER_11) !== 0 ? '1.1' : '1.0',
      rawHeaders,
      body: Buffer.alloc(0),
      complete: false,
      keepAlive: wantsKeepAlive(head.flags),
      upgrade: (head.flags & MF_UPGRADE) !== 0 || head.method === 'CONNECT',
    };
    out.messages.push(message);
    out.heads.push(head);
    if (message.upgrade) return out;
    pos = head.end;
    const kind = bodyKind(head);
    if (kind === 'length') {
      const take = Math.min(head.contentLength, buf.length - pos);
      message.body = buf.subarray(pos, pos + take);
      pos += take;
      if (take < head.contentLength) {
        out.error = 'eof';
        return out;
      }
    } else if (kind === 'chunked') {
      const scanner = new ChunkedBody();
      const n = scanner.feed(buf, pos, buf.length);
      if (n < 0) {
        out.error = scanner.error!.code;
        return out;
      }
      if (!scanner.done) {
        out.error = 'eof';
        return out;
      }
      message.body = dechunk(buf.subarray(pos, pos + n));
      pos += n;
    }
    message.complete = true;
    if (!message.keepAlive) return out;
  }
}
