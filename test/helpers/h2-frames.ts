// A deliberately rude HTTP/2 client for abuse tests: raw frames over TLS (ALPN h2), so a
// test can send what no well-behaved client library would (reset floods, CONTINUATION
// floods, too many streams). Headers are HPACK literals without indexing or Huffman.
import tls from 'node:tls';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, firstByteFlags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const bytes = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A header block of literal fields without indexing, new names. */
export function headerBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(
    headers.flatMap(([name, value]) => [
      Buffer.from([0x00]),
      hpackInt(name.length, 7),
      Buffer.from(name),
      hpackInt(Buffer.byteLength(value), 7),
      Buffer.from(value),
    ]),
  );
}

export function requestHeaders(port: number, path = '/'): ReadonlyArray<readonly [string, string]> {
  return [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':authority', `localhost:${port}`],
    [':path', path],
  ];
}

export interface RawH2 {
  readonly socket: tls.TLSSocket;
  send(...frames: Buffer[]): void;
  /** Frame types received so far, with the GOAWAY error code if one came. */
  readonly received: Array<{ type: number; streamId: number; errorCode?: number }>;
  readonly closed: Promise<void>;
}

/** Opens a TLS connection with ALPN h2 and sends the preface and an empty SETTINGS. */
export async function openRawH2(port: number, ca: string): Promise<RawH2> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca, ALPNProtocols: ['h2'] });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const received: RawH2['received'] = [];
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const type = buffered.readUInt8(3);
      const streamId = buffered.readUInt32BE(5) & 0x7fffffff;
      const payload = buffered.subarray(9, 9 + length);
      received.push(
        type === FRAME.GOAWAY
          ? { type, streamId, errorCode: payload.readUInt32BE(4) }
          : type === FRAME.RST_STREAM
            ? { type, streamId, errorCode: payload.readUInt32BE(0) }
            : { type, streamId },
      );
      buffered = buffered.subarray(9 + length);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
  return {
    socket,
    received,
    closed,
    send: (...frames) => {
      if (!socket.destroyed) socket.write(Buffer.concat(frames));
    },
  };
}
