// Doorman's own HTTP/1.1 front over real sockets on 127.0.0.1, driving real exchanges
// against a scripted upstream: framing both ways, keep-alive and pipelining order,
// refusals of every class, smuggling shapes, 100-continue, timeouts, backpressure,
// upgrades and half-close.
import https from 'node:https';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LbError } from '../../src/errors.js';
import { echo, RawClient, startFront, type FrontRig, type Script } from '../helpers/h1-front.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();

const rigs: FrontRig[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const r of rigs.splice(0)) await r.close();
});

async function front(script: Script, clientTimeoutMs?: number, maxconn?: number): Promise<FrontRig> {
  const rig = await startFront(script, clientTimeoutMs, maxconn);
  rigs.push(rig);
  return rig;
}

async function client(rig: FrontRig): Promise<RawClient> {
  const c = await RawClient.connect(rig.port);
  clients.push(c);
  return c;
}

const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;

describe('h1 front: requests and responses', () => {
  it('keeps a connection alive across requests', async () => {
    const rig = await front(echo());
    const c = await client(rig);
    c.send(GET('/one'));
    await c.responses(1);
    c.send(GET('/two'));
    const text = await c.responses(2);
    expect(text).toContain('GET /one ');
    expect(text).toContain('GET /two ');
    expect(text).not.toMatch(/connection: close/i);
    expect(text).toMatch(/Connection: keep-alive\r\nKeep-Alive: timeout=2\r\n/);
    expect(c.closed).toBe(false);
    expect(rig.records.map((r) => r.termination)).toEqual(['normal', 'normal']);
  });

  it('tells its owner once when a connection closes, whoever closed it', async () => {
    const rig = await front(echo());
    const byClient = await client(rig);
    byClient.send(GET('/one'));
    await byClient.responses(1);
    const [first] = [...rig.connections];
    byClient.destroy();
    await waitFor(() => rig.closed.length === 1, undefined, 'the client-closed connection reported');
    expect(rig.closed.length).toBe(1);
    expect(rig.closed[0]).toBe(first);

    const byUs = await client(rig);
    byUs.send(GET('/two'));
    await byUs.responses(1);
    const [second] = [...rig.connections];
    second!.close();
    await waitFor(() => byUs.closed, undefined, 'our close reached the client');
    await waitFor(() => rig.closed.length === 2, undefined, 'the closed connection reported');
    // The same objects, each once (toEqual would also accept two look-alike connections).
    expect(rig.closed.length).toBe(2);
    expect(rig.closed[0]).toBe(first);
    expect(rig.closed[1]).toBe(second);
    expect(rig.connections.size).toBe(0);
  });

  it('answers three pipelined requests in order', async () => {
    // The second answer is slow: the third must still come last.
    const slowFirst: Script = (req, h) => {
      if (req.path === '/1') setTimeout(() => echo()(req, h), 50);
      else echo()(req, h);
    };
    const rig = await front(slowFirst);
    const c = await client(rig);
    c.send(GET('/1') + GET('/2') + GET('/3'));
    const text = await c.responses(3);
    const order = [...text.matchAll(/GET (\/\d) /g)].map((m) => m[1]);
    expect(order).toEqual(['/1', '/2', '/3']);
  });

  it('turns an absolute-form target into its path and query', async () => {
    const rig = await front(echo());
    const c = await client(rig);
    c.send(
      'GET http://a.example:8080/p/q?x=1 HTTP/1.1\r\nHost: a.example:8080\r\n\r\nGET http://a.example?y HTTP/1.1\r\nHost: a.example\r\n\r\n',
    );
    await c.responses(2);
    expect(rig.attempts.map((a) => a.path)).toEqual(['/p/q?x=1', '/?y']);
  });

  it('refuses an asterisk-form or authority-form target with 400', async () => {
    const rig = await front(echo());
    for (const line of ['OPTIONS * HTTP/1.1', 'CONNECT a.example:443 HTTP/1.1']) {
      const c = await client(rig);
      c.send(`${line}\r\nHost: a.example\r\n\r\n`);
      const text = await c.closedByServer();
      expect(text).toMatch(/^HTTP\/1\.1 400 /);
      // Doorman's own answer carries a Date.
      expect(text).toMatch(/\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    }
    expect(rig.attempts).toHaveLength(0);
  });

  it.each([
    ['a bad method', 'G@T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a missing Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['a head too large', `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['an unknown transfer coding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n', 501],
    ['an unsupported version', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    [
      'Content-Length with Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    ['conflicting Content-Lengths', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello', 400],
  ])('answers %s with its status and closes, forwarding nothing', async (_what, bytes, status) => {
    const rig = await front(echo());
    const c = await client(rig);
    c.send(bytes + GET('/after'));
    const text = await c.closedByServer();
    expect(text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(text).toMatch(/connection: close/i);
    expect(text.match(/^HTTP\//gm)).toHaveLength(1);
    expect(rig.attempts).toHaveLength(0);
    expect(rig.clientErrors).toEqual([status]);
  });

  it('decodes a chunked request body for the upstream', async () => {
    const rig = await front(echo());
    const c = await client(rig);
    c.send('POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n');
    c.send('6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n' + GET('/next'));
    const text = await c.responses(2);
    expect(text).toContain('POST /up hello world');
    expect(text).toContain('GET /next ');
  });

  it('closes on a bad chunk and forwards nothing past it', async () => {
    const rig = await front(echo());
    const c = await client(rig);
    c.send('POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n' + GET('/smuggled'));
    const text = await c.closedByServer();
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(rig.attempts.map((a) => a.path)).toEqual(['/up']);
    await waitFor(() => rig.records.length === 1);
  });

  it('forwards a Content-Length body and reads the next request after it', async () => {
    const rig = await front(echo());
    const c = await client(rig);
    c.send('POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /q HTTP/1.1\r\nHost: a\r\n\r\n');
    const text = await c.responses(2);
    expect(text).toContain('POST /p hello');
    expect(text).toContain('GET /q ');
  });

  it('closes after an answer sent before the request body ended', async () => {
    const rig = await front((_req, h) => {
      h.onConnect(() => {});
      h.onResponse(413, 'Payload Too Large', ['content-length', '0'], () => {});
      h.onComplete([]);
    });
    const c = await client(rig);
    c.send('POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npart');
    const text = await c.closedByServer();
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toMatch(/Connection: close/);
  });

  it('sends 100 Continue only once the exchange wants the body', async () => {
    let connect: (() => void) | undefined;
    const rig = await front((req, h) => {
      if (req.path === '/e') connect = () => echo()(req, h);
      else echo()(req, h);
    });
    const c = await client(rig);
    c.send('POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
    await waitFor(() => connect !== undefined);
    // A round trip on another connection: anything the front would have written by now is here.
    const other = await client(rig);
    other.send(GET('/ping'));
    await other.responses(1);
    expect(c.received).toBe('');
    connect!();
    await c.until((t) => t.startsWith('HTTP/1.1 100 Continue\r\n\r\n'));
    c.send('data');
    const text = await c.responses(2);
    expect(text).toContain('POST /e data');
  });

  it('chunk-encodes a response without Content-Length for HTTP/1.1 and carries trailers', async () => {
    const rig = await front((req, h) => {
      h.onConnect(() => {});
      h.onResponse(200, 'OK', ['content-type', 'text/plain'], () => {});
      h.onData(Buffer.from('abc'));
      h.onData(Buffer.alloc(0));
      h.onData(Buffer.from('defghijklmnopqrs'));
      h.onComplete(['x-checksum', '42']);
    });
    const c = await client(rig);
    c.send(GET('/c'));
    const text = await c.until((t) => t.endsWith('\r\n\r\n') && t.includes('0\r\n'));
    expect(text).toMatch(/transfer-encoding: chunked/i);
    expect(text.slice(text.indexOf('\r\n\r\n') + 4)).toBe('3\r\nabc\r\n10\r\ndefghijklmnopqrs\r\n0\r\nx-checksum: 42\r\n\r\n');
  });

  it('sends no body after HEAD, and none with 204', async () => {
    const rig = await front((req, h) => {
      h.onConnect(() => {});
      if (req.path === '/head') h.onResponse(200, 'OK', ['content-length', '5'], () => {});
      else h.onResponse(204, 'No Content', [], () => {});
      h.onData(Buffer.from('hello'));
      h.onComplete([]);
    });
    const c = await client(rig);
    c.send(`HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n${GET('/nc')}${GET('/nc')}`);
    const text = (await c.responses(3)).replace(/Date: [^\r]+\r\n/g, '');
    expect(text).toBe(
      'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=2\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nKeep-Alive: timeout=2\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nKeep-Alive: timeout=2\r\n\r\n',
    );
  });

  it('answers an HTTP/1.0 client close-delimited, or kept alive when it asked and a length is known', async () => {
    const rig = await front(echo({ chunked: true }));
    const c = await client(rig);
    c.send('GET /old HTTP/1.0\r\n\r\n');
    const text = await c.closedByServer();
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/connection: close/i);
    expect(text).not.toMatch(/transfer-encoding/i);
    expect(text.endsWith('\r\n\r\nGET /old ')).toBe(true);

    const rig2 = await front(echo());
    const k = await client(rig2);
    k.send('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await k.responses(1);
    expect(k.received).toMatch(/Connection: keep-alive/);
    k.send('GET /b HTTP/1.0\r\n\r\n');
    const both = await k.closedByServer();
    expect(both).toContain('GET /b ');
  });

  it('serves a request half-closed after its head, then closes', async () => {
    const rig = await front((req, h) => setTimeout(() => echo()(req, h), 30));
    const c = await client(rig);
    c.socket.end(GET('/half'));
    const text = await c.closedByServer();
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).toContain('GET /half ');
  });

  it('drops a queued request whose client half-closes: it never reached a server', async () => {
    let release: (() => void) | undefined;
    const rig = await front(
      (req, h) => {
        if (req.path === '/held') release = () => echo()(req, h);
        else echo()(req, h);
      },
      undefined,
      1,
    );
    const holder = await client(rig);
    holder.send(GET('/held'));
    await waitFor(() => release !== undefined);
    const leaver = await client(rig);
    leaver.send(GET('/gone'));
    await waitFor(() => rig.backend.queued === 1);
    leaver.socket.end();
    await waitFor(() => rig.backend.queued === 0, undefined, 'left the queue');
    await leaver.closedByServer();
    release!();
    await holder.responses(1);
    expect(rig.attempts.map((a) => a.path)).toEqual(['/held']);
    expect(rig.records.map((r) => r.termination).sort()).toEqual(['client-aborted', 'normal']);
  });

  it('serves Upgrade: h2c as an ordinary request', async () => {
    const rig = await front(echo());
    const c = await client(rig);
    c.send(GET('/plain', 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n'));
    const text = await c.responses(1);
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(rig.attempts[0]!.upgrade).toBeNull();
    expect(rig.attempts[0]!.headers.map((h) => h.toLowerCase())).not.toContain('upgrade');
  });
});

describe('h1 front: timeouts, aborts, backpressure, tunnels', () => {
  it('answers 408 to a head not finished within the client timeout', async () => {
    const rig = await front(echo(), 300);
    const c = await client(rig);
    c.send('GET / HTTP/1.1\r\nHost: a\r\n');
    const trickle = setInterval(() => c.socket.writable && c.socket.write('X'), 50);
    const started = Date.now();
    const text = await c.closedByServer().finally(() => clearInterval(trickle));
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(rig.attempts).toHaveLength(0);
  });

  it('closes an idle keep-alive connection after the client timeout, silently', async () => {
    const rig = await front(echo(), 300);
    const c = await client(rig);
    c.send(GET('/x'));
    await c.responses(1);
    const text = await c.closedByServer();
    expect(text.match(/^HTTP\//gm)).toHaveLength(1);
  });

  it('closes a client whose body stalls past the client timeout', async () => {
    const rig = await front(echo(), 300);
    const c = await client(rig);
    c.send('POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc');
    await c.closedByServer();
    await waitFor(() => rig.records.length === 1);
  });

  it('tells the exchange when the client leaves mid-response', async () => {
    let aborted = false;
    let handler: { onData(chunk: Buffer): boolean } | undefined;
    const rig = await front((_req, h) => {
      h.onConnect(() => {
        aborted = true;
        h.onError(new LbError('LB_ERR_UPSTREAM_CLOSED', 'aborted'));
      });
      h.onResponse(200, 'OK', ['content-length', '100'], () => {});
      h.onData(Buffer.from('partial'));
      handler = h;
    });
    const c = await client(rig);
    c.send(GET('/abort'));
    await c.until((t) => t.includes('partial'));
    expect(handler).toBeDefined();
    // A FIN alone is a half-close (the answer is still wanted); a reset is a client gone.
    c.socket.resetAndDestroy();
    await waitFor(() => aborted, undefined, 'upstream aborted');
    await waitFor(() => rig.records.length === 1);
    expect(rig.records[0]!.termination).toBe('client-aborted');
  });

  it('holds a fast upstream back while the client reads slowly', async () => {
    const chunk = Buffer.alloc(64 * 1024, 97);
    const total = 256;
    let produced = 0;
    const rig = await front((_req, h) => {
      h.onConnect(() => {});
      const pump = () => {
        while (produced < total) {
          produced++;
          if (!h.onData(chunk)) return;
        }
        h.onComplete([]);
      };
      h.onResponse(200, 'OK', ['content-length', String(total * chunk.length)], pump);
      pump();
    });
    const c = await client(rig);
    c.socket.pause();
    c.send(GET('/big'));
    // The upstream stops at the first refused write: far below the 16 MiB body.
    await waitFor(() => produced > 0);
    const conn = [...rig.connections][0]!;
    await waitFor(() => conn.socket.writableLength > 0);
    expect(produced).toBeLessThan(total / 4);
    let received = 0;
    c.socket.removeAllListeners('data');
    c.socket.on('data', (d: Buffer | string) => (received += d.length));
    c.socket.resume();
    await waitFor(() => produced === total && received >= total * chunk.length, 20_000, 'the whole body');
  });

  it('pauses the client when the upstream reads the body slowly', async () => {
    let body: NodeJS.ReadableStream | null = null;
    const rig = await front((req, h) => {
      h.onConnect(() => {});
      body = req.body;
    });
    const c = await client(rig);
    const size = 64 * 1024 * 1024;
    c.send(`POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
    const block = Buffer.alloc(1024 * 1024, 98);
    let sent = 0;
    while (sent < size && c.socket.write(block)) sent += block.length;
    // The client's writes are refused long before 64 MiB: the front stopped reading.
    await waitFor(() => body !== null);
    expect(sent).toBeLessThan(size / 2);
  });

  it('joins a WebSocket upgrade to the upstream socket, early bytes first', async () => {
    // The server's side of the tunnel: a real socket that answers in upper case.
    const fromClient: Buffer[] = [];
    const wsServer = net.createServer((s) => {
      s.on('data', (chunk: Buffer) => {
        fromClient.push(chunk);
        s.write(chunk.toString().toUpperCase());
      });
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => wsServer.listen(0, '127.0.0.1', resolve));
    try {
      const wsPort = (wsServer.address() as net.AddressInfo).port;
      const rig = await front((req, h) => {
        h.onConnect(() => {});
        expect(req.upgrade).toBe('websocket');
        const upstream = net.connect(wsPort, '127.0.0.1', () => h.onUpgrade(101, ['sec-websocket-accept', 'x'], upstream));
      });
      const c = await client(rig);
      c.send(GET('/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n') + 'early');
      await c.until((t) => t.includes('EARLY'));
      expect(c.received).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      expect(c.received).toMatch(/Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n/);
      c.send('more');
      await c.until((t) => t.includes('MORE'));
      c.destroy();
      await waitFor(() => rig.records.length === 1);
      expect(Buffer.concat(fromClient).toString()).toBe('earlymore');
      expect(rig.records[0]).toMatchObject({ status: 101, bytesIn: 9, bytesOut: 9 });
    } finally {
      wsServer.close();
    }
  });

  it('still delivers a last answer over TLS when every connection is closed right after it (shutdown)', async () => {
    const rig = await startFront(
      (_req, h) => {
        h.onConnect(() => {});
        setTimeout(() => {
          h.onResponse(200, 'OK', ['content-type', 'text/plain'], () => {});
          h.onData(Buffer.from('slow but done\n'));
          h.onComplete([]);
        }, 20);
      },
      2000,
      0,
      pki.front,
    );
    rigs.push(rig);
    // As a shutdown does: the moment the last request is recorded, close everything.
    const push = rig.records.push.bind(rig.records);
    rig.records.push = (...records) => {
      queueMicrotask(() => {
        for (const conn of rig.connections) conn.close();
      });
      return push(...records);
    };
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: rig.port, path: '/slow', agent: false, ca: pki.ca.cert, servername: 'localhost' },
        (res) => {
          let text = '';
          res.setEncoding('latin1');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe('slow but done\n');
  });

  it('closes idle connections on closeIdle and keeps busy ones to their response', async () => {
    let finish: (() => void) | undefined;
    const rig = await front((req, h) => {
      if (req.path === '/slow') finish = () => echo()(req, h);
      else echo()(req, h);
    });
    const idle = await client(rig);
    idle.send(GET('/fast'));
    await idle.responses(1);
    const busy = await client(rig);
    busy.send(GET('/slow'));
    await waitFor(() => finish !== undefined);
    for (const conn of rig.connections) conn.closeIdle();
    await idle.closedByServer();
    expect(busy.closed).toBe(false);
    finish!();
    const text = await busy.closedByServer();
    expect(text).toContain('GET /slow ');
  });
});
