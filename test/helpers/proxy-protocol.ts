// PROXY protocol on the test side, written apart from src/proxy-protocol/ so each side
// checks the other: clients that send a header before TLS or HTTP, and backends that
// read one before serving (as nginx's `listen ... proxy_protocol` does).
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { once } from './wait.js';

/** A v1 header line. */
export function v1Header(source: string, destination: string, sourcePort: number, destinationPort: number): Buffer {
  const family = source.includes(':') ? 'TCP6' : 'TCP4';
  return Buffer.from(`PROXY ${family} ${source} ${destination} ${sourcePort} ${destinationPort}\r\n`, 'latin1');
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 PROXY header for two IPv4 addresses. */
export function v2Header(source: string, destination: string, sourcePort: number, destinationPort: number): Buffer {
  const header = Buffer.alloc(28);
  V2_SIGNATURE.copy(header);
  header[12] = 0x21;
  header[13] = 0x11;
  header.writeUInt16BE(12, 14);
  source.split('.').forEach((octet, i) => (header[16 + i] = Number(octet)));
  destination.split('.').forEach((octet, i) => (header[20 + i] = Number(octet)));
  header.writeUInt16BE(sourcePort, 24);
  header.writeUInt16BE(destinationPort, 26);
  return header;
}

/** A TCP connection to the balancer that first writes `header` (in pieces of `step` bytes, one write each, when given). */
export async function connectWithHeader(port: number, header: Buffer, step = 0): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await once(socket, 'connect');
  if (step === 0) socket.write(header);
  else {
    for (let at = 0; at < header.length; at += step) {
      socket.write(header.subarray(at, at + step));
      // Each piece leaves in its own segment.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return socket;
}

/** HTTPS over a socket that already sent its PROXY header; resolves with status and body. */
export async function requestOver(socket: net.Socket, ca: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // No agent: createConnection is only used without one.
    const req = https.request({
      host: '127.0.0.1',
      path,
      ca,
      servername: 'localhost',
      createConnection: () => tls.connect({ socket, ca, servername: 'localhost' }),
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP/2 session (ALPN h2) over a socket that already sent its PROXY header. */
export function h2SessionOver(socket: net.Socket, ca: string): http2.ClientHttp2Session {
  const session = http2.connect('https://localhost', {
    createConnection: () => tls.connect({ socket, ca, servername: 'localhost', ALPNProtocols: ['h2'] }),
  });
  session.on('error', () => {});
  return session;
}

/** One HTTP/2 request on `session`. */
export async function h2Get(session: http2.ClientHttp2Session, path = '/'): Promise<{ status: number; body: string }> {
  const stream = session.request({ ':path': path });
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  let body = '';
  stream.on('data', (c: Buffer) => (body += c.toString()));
  await once(stream, 'end');
  return { status: Number(headers[':status']), body };
}

/** An HTTP/2 request (ALPN h2) over a socket that already sent its PROXY header. */
export async function h2RequestOver(socket: net.Socket, ca: string, path = '/'): Promise<{ status: number; body: string }> {
  const session = h2SessionOver(socket, ca);
  try {
    return await h2Get(session, path);
  } finally {
    session.close();
  }
}

/** Resolves when `socket` closes; with what it received. */
export function closed(socket: net.Socket): Promise<string> {
  let received = '';
  socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
  return new Promise((resolve) => socket.once('close', () => resolve(received)));
}

/** What a PROXY-reading backend saw first on one connection. */
export interface SeenHeader {
  readonly version: 1 | 2;
  /** `LOCAL` (v2) or `UNKNOWN` (v1), else the carried source address. */
  readonly source: string;
  readonly sourcePort: number;
}

/** Reads a v1 or v2 header off `socket`; the rest stays unread. Rejects on anything else. */
function readHeader(socket: net.Socket): Promise<SeenHeader> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let length = 0;
      let seen: SeenHeader | null = null;
      if (buf.subarray(0, 6).toString('latin1') === 'PROXY ') {
        const end = buf.indexOf('\r\n');
        if (end < 0) return;
        length = end + 2;
        const fields = buf.toString('latin1', 6, end).split(' ');
        seen =
          fields[0] === 'UNKNOWN'
            ? { version: 1, source: 'UNKNOWN', sourcePort: 0 }
            : { version: 1, source: fields[1]!, sourcePort: Number(fields[3]) };
      } else if (buf.length >= 16 && buf.subarray(0, 12).equals(V2_SIGNATURE)) {
        length = 16 + buf.readUInt16BE(14);
        if (buf.length < length) return;
        if (buf[12] === 0x20) seen = { version: 2, source: 'LOCAL', sourcePort: 0 };
        else if (buf[13] === 0x11) seen = { version: 2, source: [...buf.subarray(16, 20)].join('.'), sourcePort: buf.readUInt16BE(24) };
        else if (buf[13] === 0x21) seen = { version: 2, source: ipv6Text(buf.subarray(16, 32)), sourcePort: buf.readUInt16BE(48) };
      } else if (buf.length >= 16 || (buf.length > 0 && buf[0] !== 0x50 && buf[0] !== 0x0d)) {
        socket.off('data', onData);
        reject(new Error(`no PROXY header: ${JSON.stringify(buf.toString('latin1').slice(0, 20))}`));
        return;
      }
      if (seen === null) return;
      socket.off('data', onData);
      socket.pause();
      const rest = buf.subarray(length);
      if (rest.length > 0) socket.unshift(rest);
      resolve(seen);
    };
    socket.on('data', onData);
  });
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

export interface ProxyBackend {
  readonly port: number;
  readonly address: string;
  /** One entry per connection, in order. */
  readonly headers: SeenHeader[];
  /** One entry per request: the header of the connection it came on, and its path. */
  readonly requests: { header: SeenHeader; path: string; forwardedFor: string | undefined }[];
  /** Connections refused for lacking a header. */
  readonly refused: number;
  close(): Promise<void>;
}

/** A backend that requires a PROXY header on every connection, then serves HTTP/1.1 (HTTPS when `tlsPair` is given; HTTP/2 too with `h2`). */
export async function startProxyBackend(tlsPair?: { cert: string; key: string }, options: { h2?: boolean } = {}): Promise<ProxyBackend> {
  const headers: SeenHeader[] = [];
  const requests: ProxyBackend['requests'] = [];
  // By the client's port: every connection comes from 127.0.0.1, TLS or not.
  const byPort = new Map<number, SeenHeader>();
  const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    const header = byPort.get(req.socket.remotePort ?? 0)!;
    requests.push({ header, path: req.url ?? '', forwardedFor: req.headers['x-forwarded-for'] as string | undefined });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`source=${header.source}\n`);
  };
  const server = tlsPair
    ? options.h2
      ? http2.createSecureServer({ ...tlsPair, allowHTTP1: true }, handler)
      : https.createServer(tlsPair, handler)
    : http.createServer(handler);
  const sockets = new Set<net.Socket>();
  const state = { refused: 0 };
  const acceptor = net.createServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    readHeader(socket).then(
      (seen) => {
        headers.push(seen);
        byPort.set(socket.remotePort ?? 0, seen);
        server.emit('connection', socket);
        if (!tlsPair) socket.resume();
      },
      () => {
        state.refused += 1;
        socket.destroy();
      },
    );
    socket.resume();
  });
  await new Promise<void>((resolve) => acceptor.listen(0, '127.0.0.1', resolve));
  const port = (acceptor.address() as net.AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    headers,
    requests,
    get refused() {
      return state.refused;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => acceptor.close(() => resolve()));
    },
  };
}
