// The exchange at its own seams: an in-memory Downstream and Upstream stand for any
// protocol on either side, so these tests pin the decisions (cookie, retries,
// redispatch, tunnel, endings, one record) without a socket. The integration tests
// drive the same code through real node:http and undici.
import { Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/backend/backend.js';
import { UpstreamServer } from '../../src/backend/server.js';
import type { BackendConfig, ServerConfig, TimeoutsConfig } from '../../src/config/types.js';
import { LbError, type UpstreamError } from '../../src/errors.js';
import type { AccessRecord } from '../../src/exchange/access-record.js';
import type { Downstream } from '../../src/exchange/downstream.js';
import { Exchange, type ExchangeContext } from '../../src/exchange/exchange.js';
import { FrontendRouting, type Fallback } from '../../src/exchange/routing.js';
import type { RequestHead } from '../../src/exchange/request-head.js';
import type { Upstream, UpstreamHandler, UpstreamRequest } from '../../src/upstream/upstream.js';

const NO_OPS = { set: [], add: [], remove: [] };
const NO_RULES = { request: NO_OPS, response: NO_OPS };
const timeouts: TimeoutsConfig = { clientMs: 1000, serverMs: 1000, connectMs: 1000, queueMs: 5000, shutdownMs: 1000, graceMs: 0 };

/** What a fake server does with one attempt. */
type Script = (request: UpstreamRequest, handler: UpstreamHandler) => void;

/** An Upstream whose every attempt runs the script of its server. */
class ScriptedUpstream implements Upstream {
  readonly attempts: UpstreamRequest[] = [];
  constructor(readonly script: () => Script) {}
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    this.attempts.push(request);
    this.script()(request, handler);
  }
  recycle(): void {}
  close = async () => {};
  destroy = async () => {};
}

/** A Downstream that keeps what the exchange answered. */
class RecordingDownstream implements Downstream {
  readonly body = null;
  status = 0;
  headers: readonly string[] = [];
  close = false;
  chunks: string[] = [];
  ended = false;
  aborted = false;
  writable = true;
  drain: (() => void) | undefined;
  tunneled: { status: number; done: (a: number, b: number) => void } | undefined;
  #onClose: (() => void) | undefined;

  onClose(listener: () => void): void {
    this.#onClose = listener;
  }
  bodyFlowing(): void {}
  interims: Array<[number, readonly string[]]> = [];
  interim(status: number, _text: string, headers: readonly string[]): void {
    this.interims.push([status, headers]);
  }
  respond(status: number, _text: string, headers: readonly string[], close: boolean): void {
    this.status = status;
    this.headers = headers;
    this.close = close;
  }
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk.toString());
    return this.writable;
  }
  onDrain(listener: () => void): void {
    this.drain = listener;
  }
  end(last?: string): void {
    if (last) this.chunks.push(last);
    this.ended = true;
  }
  abort(): void {
    this.aborted = true;
  }
  tunnel(status: number, _headers: readonly string[], _upstream: Socket, done: (a: number, b: number) => void): void {
    this.tunneled = { status, done };
  }
  /** The client goes away. */
  leave(): void {
    this.#onClose?.();
  }
  header(name: string): string | undefined {
    const at = this.headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === name);
    return at < 0 ? undefined : this.headers[at + 1];
  }
}

const ok: Script = (_req, h) => {
  h.onConnect(() => {});
  h.onResponse(200, 'OK', ['content-length', '2', 'connection', 'keep-alive'], () => {});
  h.onData(Buffer.from('hi'));
  h.onComplete([]);
};
const refused: Script = (_req, h) => h.onError(new LbError('LB_ERR_CONNECT', 'connect: ECONNREFUSED'));
const closedAfterSend: Script = (_req, h) => {
  h.onConnect(() => {});
  h.onError(new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: other side closed'));
};

function serverConfig(name: string): ServerConfig {
  return {
    name,
    address: { host: '127.0.0.1', port: 9 },
    tls: null,
    maxconn: 0,
    weight: 1,
    cookie: name,
    proxyProtocol: null,
  } as ServerConfig;
}

interface Rig {
  backend: Backend;
  upstreams: ScriptedUpstream[];
  records: AccessRecord[];
  attempts: Array<[string, string | null, number]>;
  run(head?: Partial<RequestHead>, down?: RecordingDownstream): RecordingDownstream;
}

const made: UpstreamServer[] = [];
afterEach(async () => {
  for (const s of made.splice(0)) await s.destroy();
});

/** A backend of servers whose attempts follow `scripts` (one list per server, taken in turn). */
function rig(scripts: Script[][], backendPatch: Partial<BackendConfig> = {}): Rig {
  const upstreams: ScriptedUpstream[] = [];
  const config: BackendConfig = {
    name: 'web',
    balance: 'roundrobin',
    cookie: {
      name: 'WEBSERVERID',
      mode: 'insert',
      indirect: true,
      nocache: true,
      httpOnly: true,
      secure: 'auto',
      secret: null,
      sameSite: null,
      maxIdleMs: null,
      maxLifeMs: null,
    },
    retries: 3,
    redispatch: true,
    forwardFor: { except: null, trusted: [] },
    headers: NO_RULES,
    check: null,
    servers: scripts.map((_, i) => serverConfig(`s${i + 1}`)),
    ...backendPatch,
  } as BackendConfig;
  const servers = config.servers.map((sc, i) => {
    const queue = [...scripts[i]!];
    const server = new UpstreamServer('web', sc, i, timeouts, () => {
      const upstream = new ScriptedUpstream(() => queue.shift() ?? ok);
      upstreams.push(upstream);
      return upstream;
    });
    made.push(server);
    return server;
  });
  const backend = new Backend(config, servers, timeouts);
  const records: AccessRecord[] = [];
  const attempts: Array<[string, string | null, number]> = [];
  const ctx = (fallback: Fallback): ExchangeContext => ({
    frontend: { name: 'https', proto: 'https', port: '8443', headers: NO_RULES, hsts: null },
    routing: new FrontendRouting([], new Map([['web', backend]]), fallback),
    observer: {
      attemptDone: (server, failure, status) => attempts.push([server.name, failure?.code ?? null, status]),
      requestDone: (r) => records.push(r),
    },
    draining: () => false,
    logger: pino({ level: 'silent' }),
  });
  return {
    backend,
    upstreams,
    records,
    attempts,
    run(head = {}, down = new RecordingDownstream()) {
      const full: RequestHead = {
        method: 'GET',
        target: '/x',
        httpVersion: '1.1',
        headers: ['Host', 'shop.example', 'Connection', 'keep-alive, X-Secret', 'X-Secret', 's', 'Accept', '*/*'],
        host: 'shop.example',
        cookie: undefined,
        connection: 'keep-alive, X-Secret',
        hasBody: false,
        upgrade: null,
        clientAddress: '192.0.2.7',
        clientPort: 5555,
        ...head,
      };
      new Exchange(full, down, ctx({ kind: 'backend', backend }), 'r1').start();
      return down;
    },
  };
}

describe('Exchange', () => {
  it('forwards a rewritten head, relays the answer with a new cookie and writes one record', () => {
    const r = rig([[ok]]);
    const down = r.run();
    const sent = r.upstreams[0]!.attempts[0]!;
    expect(sent.path).toBe('/x');
    const names = sent.headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).not.toContain('connection');
    expect(names).not.toContain('x-secret');
    expect(names).toEqual(
      expect.arrayContaining(['host', 'accept', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-host']),
    );
    expect(down.status).toBe(200);
    expect(down.header('connection')).toBeUndefined();
    expect(down.header('set-cookie')).toMatch(/^WEBSERVERID=s1; /);
    expect(down.header('cache-control')).toBe('private');
    expect(down.chunks.join('')).toBe('hi');
    expect(down.ended).toBe(true);
    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({
      server: 's1',
      status: 200,
      termination: 'normal',
      cookieIn: 'N',
      cookieOut: 'I',
      bytesOut: 2,
      retries: 0,
    });
    expect(r.attempts).toEqual([['s1', null, 200]]);
  });

  it('keeps a cookie holder on its server without setting the cookie again', () => {
    const r = rig([[ok], [ok]]);
    const down = r.run({ cookie: 'WEBSERVERID=s2' });
    expect(r.records[0]).toMatchObject({ server: 's2', cookieIn: 'V', cookieOut: 'N' });
    expect(down.header('set-cookie')).toBeUndefined();
  });

  it('retries a refused connection on the other server and says so in the record', () => {
    const r = rig([[refused], [ok]]);
    const down = r.run({ cookie: 'WEBSERVERID=s1' });
    expect(down.status).toBe(200);
    expect(down.header('set-cookie')).toMatch(/^WEBSERVERID=s2;/);
    expect(r.records[0]).toMatchObject({ server: 's2', retries: 1, redispatched: true, termination: 'normal' });
    expect(r.attempts).toEqual([
      ['s1', 'LB_ERR_CONNECT', 0],
      ['s2', null, 200],
    ]);
  });

  it('never replays a request with a body once it was sent', () => {
    const r = rig([[closedAfterSend], [ok]]);
    const down = r.run({ method: 'POST', hasBody: true });
    expect(down.status).toBe(502);
    expect(r.records[0]).toMatchObject({ termination: 'server-error', retries: 0, error: 'closed: other side closed' });
    expect(r.upstreams[1]?.attempts ?? []).toHaveLength(0);
  });

  it('replays a body-less GET whose connection closed before any answer', () => {
    const r = rig([[closedAfterSend], [ok]]);
    expect(r.run().status).toBe(200);
    expect(r.records[0]).toMatchObject({ retries: 1, server: 's2' });
  });

  it('answers the last failure from the error table when retries run out', () => {
    const r = rig([[refused, refused, refused, refused]], { retries: 3 });
    const down = r.run();
    expect(down.status).toBe(502);
    expect(down.chunks.join('')).toBe('502 Bad Gateway\n');
    expect(r.records[0]).toMatchObject({ termination: 'connect-error', retries: 3, status: 502 });
  });

  it('answers 503 no-server when every server is in MAINT', () => {
    const r = rig([[ok]]);
    r.backend.servers[0]!.setAdminState('MAINT');
    expect(r.run().status).toBe(503);
    expect(r.records[0]).toMatchObject({ termination: 'no-server', server: '' });
  });

  it('cuts the client connection when the server fails after the head went out', () => {
    const r = rig([
      [
        (_req, h) => {
          h.onConnect(() => {});
          h.onResponse(200, 'OK', [], () => {});
          h.onError(new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: reset'));
        },
      ],
    ]);
    const down = r.run();
    expect(down.aborted).toBe(true);
    expect(r.records[0]).toMatchObject({ termination: 'server-aborted', status: 200 });
  });

  it('pauses the server while the client is slow and resumes on drain', () => {
    let resumed = 0;
    let paused: boolean | undefined;
    const r = rig([
      [
        (_req, h) => {
          h.onConnect(() => {});
          h.onResponse(200, 'OK', [], () => (resumed += 1));
          paused = !h.onData(Buffer.from('a'));
        },
      ],
    ]);
    const down = new RecordingDownstream();
    down.writable = false;
    r.run({}, down);
    expect(paused).toBe(true);
    down.drain!();
    expect(resumed).toBe(1);
  });

  it('aborts the attempt and records client-aborted when the client leaves mid-response', () => {
    let aborted: Error | undefined;
    let handler!: UpstreamHandler;
    const r = rig([
      [
        (_req, h) => {
          handler = h;
          h.onConnect((err) => (aborted = err));
          h.onResponse(200, 'OK', [], () => {});
        },
      ],
    ]);
    const down = r.run();
    down.leave();
    expect(aborted?.message).toBe('client aborted');
    // The upstream reports the abort back, as undici does.
    handler.onError(new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: aborted'));
    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({ termination: 'client-aborted' });
    expect(r.backend.servers[0]!.active).toBe(0);
  });

  it('tunnels after a 101 and writes the record when the tunnel closes, with the bytes of both ways', () => {
    const r = rig([
      [
        (req, h) => {
          expect(req.upgrade).toBe('websocket');
          h.onConnect(() => {});
          h.onUpgrade(101, ['upgrade', 'websocket', 'sec-websocket-accept', 'k'], new Socket());
        },
      ],
    ]);
    const down = r.run({ upgrade: 'websocket' });
    expect(down.tunneled?.status).toBe(101);
    expect(r.records).toHaveLength(0);
    expect(r.backend.servers[0]!.active).toBe(1);
    down.leave(); // the client side closing is the tunnel's business, not an abort
    down.tunneled!.done(10, 20);
    expect(r.records[0]).toMatchObject({ status: 101, termination: 'normal', bytesIn: 10, bytesOut: 20, cookieOut: 'N' });
    expect(r.backend.servers[0]!.active).toBe(0);
  });

  it('answers a bug of its own with 500, logs it and keeps the server slot free', () => {
    const r = rig([
      [
        () => {
          throw new Error('boom');
        },
      ],
    ]);
    const down = r.run();
    expect(down.status).toBe(500);
    expect(down.close).toBe(true);
    expect(r.records[0]).toMatchObject({ termination: 'internal-error', error: 'boom' });
    expect(r.backend.servers[0]!.active).toBe(0);
  });
});

describe('Exchange endings without a backend', () => {
  it('relays interim heads but 100 without hop-by-hop fields, and counts 100s toward the limit of 10', () => {
    const interims =
      (statuses: number[]): Script =>
      (_req, h) => {
        let aborted: Error | undefined;
        h.onConnect((err) => (aborted = err));
        for (const status of statuses) {
          h.onInterim(status, '', ['Link', '</a.css>', 'Connection', 'x-hop', 'X-Hop', '1']);
          if (aborted) return h.onError(aborted as UpstreamError);
        }
        ok(_req, h);
      };
    const r = rig([[interims([100, 103, 102]), interims([100, ...Array<number>(10).fill(103)])]], { retries: 0 });
    const down = r.run();
    expect(down.interims).toEqual([
      [103, ['Link', '</a.css>']],
      [102, ['Link', '</a.css>']],
    ]);
    expect(down.status).toBe(200);
    const flooded = r.run();
    expect(flooded.interims).toHaveLength(9);
    expect(flooded.status).toBe(502);
    expect(r.records.at(-1)!.error).toBe('protocol: too many interim responses');
  });

  it('rejects a malformed head with 400, closing the connection, and never forwards it', () => {
    const r = rig([[ok]]);
    const down = new RecordingDownstream();
    const ctx: ExchangeContext = {
      frontend: { name: 'https', proto: 'https', port: '8443', headers: NO_RULES, hsts: null },
      routing: new FrontendRouting([], new Map([['web', r.backend]]), { kind: 'backend', backend: r.backend }),
      observer: { attemptDone: () => {}, requestDone: (rec) => r.records.push(rec) },
      draining: () => false,
      logger: pino({ level: 'silent' }),
    };
    const head = {
      method: 'GET',
      target: '*',
      httpVersion: '1.1',
      headers: [],
      host: '',
      cookie: undefined,
      connection: undefined,
      hasBody: false,
      upgrade: null,
      clientAddress: '::1',
      clientPort: 1,
    };
    new Exchange(head, down, ctx, 'r2').reject(new LbError('LB_ERR_BAD_REQUEST', 'request target must be a path'));
    expect([down.status, down.close]).toEqual([400, true]);
    expect(r.upstreams[0]!.attempts).toHaveLength(0);
    expect(r.records[0]).toMatchObject({ termination: 'bad-request', backend: 'web', path: '*', error: 'request target must be a path' });
  });

  it('redirects to the https frontend with the host and target kept', () => {
    const down = new RecordingDownstream();
    const records: AccessRecord[] = [];
    const ctx: ExchangeContext = {
      frontend: { name: 'http', proto: 'http', port: '8080', headers: NO_RULES, hsts: null },
      routing: new FrontendRouting([], new Map(), { kind: 'https', port: () => 8443 }),
      observer: { attemptDone: () => {}, requestDone: (rec) => records.push(rec) },
      draining: () => false,
      logger: pino({ level: 'silent' }),
    };
    const head = {
      method: 'GET',
      target: '/a?b',
      httpVersion: '1.1',
      headers: [],
      host: 'shop.example:8080',
      cookie: undefined,
      connection: undefined,
      hasBody: false,
      upgrade: null,
      clientAddress: '::1',
      clientPort: 1,
    };
    new Exchange(head, down, ctx, 'r3').start();
    expect(down.status).toBe(308);
    expect(down.header('location')).toBe('https://shop.example:8443/a?b');
    expect(records[0]).toMatchObject({ termination: 'redirect', backend: '', status: 308 });
  });
});

describe('X-Request-Id', () => {
  it('keeps a trusted client’s id and replaces an untrusted one', async () => {
    const { upstreamRequestHeaders } = await import('../../src/exchange/headers.js');
    const facts = {
      clientAddress: '10.1.2.3',
      proto: 'https' as const,
      port: '443',
      host: 'h',
      requestId: 'ours-1',
      omitForwardedFor: false,
    };
    const raw = ['X-Request-Id', 'theirs-9', 'Accept', '*/*'];
    expect(upstreamRequestHeaders(raw, { ...facts, trustClientChain: true }, undefined, undefined).requestId).toBe('theirs-9');
    const untrusted = upstreamRequestHeaders(raw, { ...facts, trustClientChain: false }, undefined, undefined);
    expect(untrusted.requestId).toBe('ours-1');
    expect(untrusted.headers.filter((h) => h.toLowerCase() === 'x-request-id')).toHaveLength(1);
  });
});
