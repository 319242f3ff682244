// A minimal WebSocket (RFC 6455) for tests: the opening handshake over node:https
// upgrade events, and small hand-framed text and close messages. Just enough to
// check that a tunnel through the balancer carries frames both ways.
import { createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { startBackend, type TestBackend } from './backend.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The Sec-WebSocket-Accept value for a Sec-WebSocket-Key. */
export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

const OPCODE_TEXT = 0x1;
const OPCODE_CLOSE = 0x8;

/** One frame as read off the wire. */
export interface Frame {
  readonly opcode: number;
  readonly masked: boolean;
  readonly payload: Buffer;
}

/** Encodes one final frame; clients mask, servers do not. Payloads up to 64 KiB. */
export function encodeFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  if (payload.length > 0xffff) throw new Error('test frames are at most 64 KiB');
  const lengthBytes = payload.length < 126 ? 0 : 2;
  const head = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (masked ? 0x80 : 0) | (lengthBytes ? 126 : payload.length);
  if (lengthBytes) head.writeUInt16BE(payload.length, 2);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = randomBytes(4);
  mask.copy(head, 2 + lengthBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i += 1) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames (unmasking them); keeps partial frames for later. */
export class FrameReader {
  #buffered = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const b = this.#buffered;
      if (b.length < 2) return frames;
      const masked = (b[1]! & 0x80) !== 0;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return frames;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        throw new Error('test frames are at most 64 KiB');
      }
      const maskAt = offset;
      if (masked) offset += 4;
      if (b.length < offset + length) return frames;
      const payload = Buffer.from(b.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < payload.length; i += 1) payload[i]! ^= b[maskAt + (i % 4)]!;
      frames.push({ opcode: b[0]! & 0x0f, masked, payload });
      this.#buffered = b.subarray(offset + length);
    }
  }
}

/** What a WebSocket test backend saw of one upgrade request. */
export interface SeenUpgrade {
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

/** How the backend answers upgrade requests. */
export type UpgradeAnswer =
  /** 101, with an optional first message sent in the same write as the 101 head. */
  | { readonly kind: 'accept'; readonly greeting?: string }
  | { readonly kind: 'reject'; readonly status: number; readonly body: string }
  /** Never answers. */
  | { readonly kind: 'silent' };

export interface WsBackend {
  readonly backend: TestBackend;
  readonly address: string;
  readonly upgrades: SeenUpgrade[];
  /** Frames received from clients, in order (client frames must be masked). */
  readonly received: Frame[];
  /** TCP connections open now. */
  openConnections(): number;
  /** Connections that made an upgrade request and are still open. */
  openUpgraded(): number;
  answer(next: UpgradeAnswer): void;
  close(): Promise<void>;
}

/**
 * An HTTPS backend whose `upgrade` handler answers 101 with a correct
 * Sec-WebSocket-Accept and echoes every text frame (or rejects, as told). A close
 * frame is answered with a close frame and the end of the connection.
 */
export async function startWsBackend(name: string, tlsPair: { cert: string; key: string }): Promise<WsBackend> {
  const backend = await startBackend({ name, tls: tlsPair });
  const upgrades: SeenUpgrade[] = [];
  const received: Frame[] = [];
  let open = 0;
  let upgradedOpen = 0;
  let answer: UpgradeAnswer = { kind: 'accept' };
  backend.server.on('connection', (socket: Duplex) => {
    open += 1;
    socket.once('close', () => (open -= 1));
  });
  backend.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrades.push({ url: req.url ?? '', headers: req.headers });
    upgradedOpen += 1;
    socket.once('close', () => (upgradedOpen -= 1));
    socket.on('error', () => socket.destroy());
    if (answer.kind === 'silent') {
      socket.resume(); // reading is how a closed connection is noticed
      return;
    }
    if (answer.kind === 'reject') {
      const body = Buffer.from(answer.body);
      socket.end(
        `HTTP/1.1 ${answer.status} Nope\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${answer.body}`,
      );
      return;
    }
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const greeting = answer.greeting === undefined ? Buffer.alloc(0) : encodeFrame(OPCODE_TEXT, Buffer.from(answer.greeting), false);
    socket.write(
      Buffer.concat([
        Buffer.from(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
        ),
        greeting,
      ]),
    );
    const reader = new FrameReader();
    const onData = (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        received.push(frame);
        if (frame.opcode === OPCODE_TEXT) socket.write(encodeFrame(OPCODE_TEXT, frame.payload, false));
        if (frame.opcode === OPCODE_CLOSE) {
          socket.end(encodeFrame(OPCODE_CLOSE, frame.payload, false));
          return;
        }
      }
    };
    socket.on('data', onData);
    if (head.length > 0) onData(head);
  });
  return {
    backend,
    address: backend.address,
    upgrades,
    received,
    openConnections: () => open,
    openUpgraded: () => upgradedOpen,
    answer(next) {
      answer = next;
    },
    close: backend.close,
  };
}

/** An open WebSocket client connection. */
export interface WsClient {
  readonly socket: Duplex;
  /** The status and (lower-cased) headers of the handshake's answer. */
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Sends a masked text frame. */
  send(text: string): void;
  /** The next text message from the server (rejects when the connection closes first). */
  next(): Promise<string>;
  /** Sends a close frame; the server answers and ends the connection. */
  sendClose(): void;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  readonly isClosed: () => boolean;
}

/** The outcome of an opening handshake: a tunnel, or the ordinary response that refused it. */
export type WsOpenResult =
  | { readonly kind: 'open'; readonly client: WsClient }
  | { readonly kind: 'refused'; readonly status: number; readonly headers: http.IncomingHttpHeaders; readonly body: string };

export interface WsOpenOptions {
  readonly port: number;
  readonly ca: string;
  readonly path?: string;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly servername?: string;
  /** An agent whose TLS session cache resumes sessions (faster handshakes); default: none. */
  readonly agent?: https.Agent;
}

/** Opens a WebSocket to the balancer over https and checks Sec-WebSocket-Accept. */
export function openWebSocket(options: WsOpenOptions): Promise<WsOpenResult> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: options.port,
      path: options.path ?? '/ws',
      ca: options.ca,
      servername: options.servername ?? 'localhost',
      agent: options.agent ?? false,
      headers: {
        ...options.headers,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': key,
        'sec-websocket-version': '13',
      },
    });
    req.on('upgrade', (res: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (res.headers['sec-websocket-accept'] !== acceptFor(key)) {
        socket.destroy();
        reject(new Error(`bad Sec-WebSocket-Accept: ${String(res.headers['sec-websocket-accept'])}`));
        return;
      }
      resolve({ kind: 'open', client: wrapClient(socket, res.statusCode ?? 0, res.headers, head) });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ kind: 'refused', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a WebSocket that must succeed. */
export async function openTunnel(options: WsOpenOptions): Promise<WsClient> {
  const result = await openWebSocket(options);
  if (result.kind !== 'open') throw new Error(`upgrade refused with ${result.status}: ${result.body}`);
  return result.client;
}

/**
 * Opens a WebSocket whose first message travels in the same write as the upgrade
 * request (the balancer gets it as the upgrade's `head`), over a raw TLS socket.
 */
export function openTunnelWithEarlyMessage(options: WsOpenOptions & { readonly message: string }): Promise<WsClient> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: options.port, ca: options.ca, servername: options.servername ?? 'localhost' });
    socket.once('secureConnect', () => {
      const request =
        `GET ${options.path ?? '/ws'} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(request), encodeFrame(OPCODE_TEXT, Buffer.from(options.message), true)]));
    });
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const [statusLine = '', ...lines] = buffered.subarray(0, end).toString('latin1').split('\r\n');
      const headers: http.IncomingHttpHeaders = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number(statusLine.split(' ')[1]);
      if (status !== 101 || headers['sec-websocket-accept'] !== acceptFor(key)) {
        socket.destroy();
        reject(new Error(`handshake failed: ${statusLine}`));
        return;
      }
      resolve(wrapClient(socket, status, headers, buffered.subarray(end + 4)));
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

function wrapClient(socket: Duplex, status: number, headers: http.IncomingHttpHeaders, head: Buffer): WsClient {
  const reader = new FrameReader();
  const messages: string[] = [];
  const waiters: Array<{ resolve: (text: string) => void; reject: (err: Error) => void }> = [];
  let closed = false;
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      for (const waiter of waiters.splice(0)) waiter.reject(new Error('connection closed'));
      resolve();
    }),
  );
  socket.on('error', () => socket.destroy());
  const onData = (chunk: Buffer) => {
    for (const frame of reader.push(chunk)) {
      if (frame.masked) {
        socket.destroy(new Error('a server frame must not be masked'));
        return;
      }
      if (frame.opcode === OPCODE_CLOSE) {
        socket.end();
        continue;
      }
      if (frame.opcode !== OPCODE_TEXT) continue;
      const text = frame.payload.toString();
      const waiter = waiters.shift();
      if (waiter) waiter.resolve(text);
      else messages.push(text);
    }
  };
  socket.on('data', onData);
  if (head.length > 0) onData(head);
  return {
    socket,
    status,
    headers,
    send: (text) => socket.write(encodeFrame(OPCODE_TEXT, Buffer.from(text), true)),
    next: () => {
      const queued = messages.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (closed) return Promise.reject(new Error('connection closed'));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    sendClose: () => socket.write(encodeFrame(OPCODE_CLOSE, Buffer.from([0x03, 0xe8]), true)),
    closed: closedPromise,
    isClosed: () => closed,
  };
}

/** Count of TCP and TLS socket handles alive in this process. */
export function openSocketHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TLSWrap').length;
}
