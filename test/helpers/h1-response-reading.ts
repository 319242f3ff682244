// One response read two ways for the response differential test: by Doorman's parsers
// (heads until a final one, then the body its bodyKind says) and by llhttp through a
// node:http client whose socket is an in-memory Duplex (`createConnection`).
import http from 'node:http';
import { Duplex } from 'node:stream';
import { bodyKind } from '../../src/h1/body-kind.js';
import { ChunkedBody } from '../../src/h1/chunked.js';
import { parseResponseHead, type ResponseHead } from '../../src/h1/response-head.js';
import { dechunk } from './h1-connection.js';

export interface SeenResponse {
  /** Statuses of the 1xx heads before the final one. */
  informational: number[];
  status: number;
  rawHeaders: string[] | null;
  body: Buffer;
  complete: boolean;
  /** Why reading stopped before a complete response: an error code, or 'eof'; null otherwise. */
  error: string | null;
  /** Where Doorman's error is. */
  errorPos?: number;
  /** Doorman's final head, to explain a difference. */
  head?: ResponseHead;
}

/** Doorman's reading of a server's bytes answering a request with `method`. */
export function readResponse(buf: Buffer, method: string): SeenResponse {
  const out: SeenResponse = { informational: [], status: 0, rawHeaders: null, body: Buffer.alloc(0), complete: false, error: null };
  let pos = 0;
  for (;;) {
    const result = parseResponseHead(buf, pos);
    if (result.kind !== 'complete') {
      out.error = result.kind === 'error' ? result.code : 'eof';
      if (result.kind === 'error') out.errorPos = result.pos;
      return out;
    }
    const head = result.head;
    pos = head.end;
    if (head.informational) {
      out.informational.push(head.status);
      continue;
    }
    out.head = head;
    out.status = head.status;
    out.rawHeaders = [];
    for (let i = 0; i < head.fieldCount; i++) out.rawHeaders.push(head.nameAt(i), head.valueAt(i));
    const kind = bodyKind(head, { status: head.status, requestMethod: method });
    if (kind === 'length') {
      out.body = buf.subarray(pos, pos + head.contentLength);
      if (out.body.length < head.contentLength) out.error = 'eof';
    } else if (kind === 'chunked') {
      const scanner = new ChunkedBody();
      const n = scanner.feed(buf, pos, buf.length);
      if (n < 0) out.error = scanner.error!.code;
      else if (!scanner.done) out.error = 'eof';
      else out.body = dechunk(buf.subarray(pos, pos + n));
    } else if (kind === 'until-close') {
      out.body = buf.subarray(pos);
    }
    out.complete = out.error === null;
    return out;
  }
}

/** llhttp's reading of the same bytes, through a node:http client request. */
export function llhttpReadResponse(bytes: Buffer, method: string): Promise<SeenResponse> {
  return new Promise((resolve) => {
    const out: SeenResponse = { informational: [], status: 0, rawHeaders: null, body: Buffer.alloc(0), complete: false, error: null };
    const chunks: Buffer[] = [];
    let sent = false;
    const socket = new Duplex({
      read() {},
      write(_chunk, _encoding, callback) {
        callback();
        // The server's answer, once the request went out.
        if (!sent) {
          sent = true;
          this.push(bytes);
          this.push(null);
        }
      },
    });
    Object.assign(socket, { setTimeout: () => socket, setNoDelay: () => socket, setKeepAlive: () => socket });
    let response: http.IncomingMessage | null = null;
    const request = http.request({ method, path: '/', host: 'server.test', createConnection: () => socket, insecureHTTPParser: false });
    request.on('information', (info) => out.informational.push(info.statusCode));
    request.on('response', (res) => {
      response = res;
      out.status = res.statusCode!;
      out.rawHeaders = res.rawHeaders;
      res.on('data', (data: Buffer) => chunks.push(data));
      res.on('error', () => {});
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      out.error ??= err.code ?? err.message;
    });
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.on('close', () =>
      setImmediate(() => {
        clearTimeout(timer);
        out.body = Buffer.concat(chunks);
        out.complete = response !== null && response.complete;
        if (out.complete) out.error = null; // an error after the response (bytes past its end) is no disagreement here
        resolve(out);
      }),
    );
    request.end();
  });
}
