// The https frontend's TLS: the certificate chosen by SNI (exact, wildcard, else the
// first), protocol versions, the cipher policy (AEAD with ECDHE only) and session
// resumption with TLS 1.2 and TLS 1.3 tickets.
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { issueEcdsaCertificate } from '../../src/dev/pki.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const certA = pki.issue('a.test');
const certB = pki.issue('b.test');
const certWild = pki.issue('wildcard', ['*.w.test']);
const webCert = pki.selfSigned('web1');

let backend: TestBackend;
const running: RunningLb[] = [];

beforeAll(async () => {
  backend = await startBackend({ name: 'web1', tls: webCert });
});

afterAll(async () => {
  await Promise.all(running.map((r) => r.close()));
  await backend.close();
});

/** A balancer whose https frontend has the a.test, b.test and *.w.test certificates, in that order. */
async function startFrontend(tlsExtra: Record<string, unknown> = {}): Promise<RunningLb> {
  const dir = tempDir();
  const r = await startLb(
    {
      frontends: [
        {
          name: 'https',
          bind: '127.0.0.1:0',
          tls: { certs: [writePair(dir, 'a', certA), writePair(dir, 'b', certB), writePair(dir, 'w', certWild)], ...tlsExtra },
          backend: 'web',
        },
      ],
      backends: [
        {
          name: 'web',
          servers: [{ name: 'web1', address: backend.address, tls: { ca: writePair(dir, 'web1', webCert).cert, servername: 'web1' } }],
        },
      ],
    },
    dir,
  );
  running.push(r);
  return r;
}

interface Handshake {
  readonly socket: tls.TLSSocket;
  readonly session: Buffer | undefined;
  /** Read at secureConnect: the socket may be closed by the time a test looks. */
  readonly protocol: string | null;
  readonly reused: boolean;
  readonly authorized: boolean;
  readonly peer: tls.PeerCertificate | undefined;
  readonly cipher: string | undefined;
  /** Everything the server sent, once it has closed the connection. */
  readonly reply: Promise<string>;
}

/**
 * Connects to `port` and completes the handshake, verifying the chain against the
 * test CA and the name against `expectName` (the name the chosen certificate must carry).
 * Resolves once a session to resume is known (TLS 1.3 sends it after the handshake).
 */
function connect(port: number, options: tls.ConnectionOptions & { expectName: string }): Promise<Handshake> {
  const { expectName, ...rest } = options;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: pki.ca.cert,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(expectName, cert),
      ...rest,
    });
    let session: Buffer | undefined;
    let connected = false;
    let received = '';
    let protocol: string | null = null;
    let reused = false;
    let authorized = false;
    let peer: tls.PeerCertificate | undefined;
    let cipher: string | undefined;
    const reply = new Promise<string>((r) => socket.once('close', () => r(received)));
    const done = () => {
      if (connected && session) resolve({ socket, session, reply, protocol, reused, authorized, peer, cipher });
    };
    socket.once('session', (s: Buffer) => {
      session = s;
      done();
    });
    socket.once('secureConnect', () => {
      connected = true;
      protocol = socket.getProtocol();
      reused = socket.isSessionReused();
      authorized = socket.authorized;
      peer = socket.getPeerCertificate();
      cipher = socket.getCipher().standardName;
      done();
      // Ask for something so a TLS 1.3 server sends its tickets even if none came yet.
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (c: Buffer) => (received += c.toString()));
    socket.once('error', reject);
    socket.once('close', () => {
      if (connected) resolve({ socket, session, reply, protocol, reused, authorized, peer, cipher });
      else reject(new Error('closed before the handshake completed'));
    });
  });
}

/** Connects and expects the handshake to fail; resolves with the client-side error. */
function refused(port: number, options: tls.ConnectionOptions): Promise<Error> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'a.test', ...options });
    socket.once('secureConnect', () => {
      socket.destroy();
      reject(new Error(`handshake succeeded with ${socket.getProtocol()} ${socket.getCipher().name}`));
    });
    socket.once('error', resolve);
    socket.once('close', () => resolve(new Error('closed')));
  });
}

function close(h: Handshake): void {
  h.socket.destroy();
}

describe('certificate selection by SNI', () => {
  let lb: RunningLb;
  beforeAll(async () => {
    lb = await startFrontend();
  });

  const cases: Array<{ what: string; servername: string | undefined; expectName: string; san: string; cn: string }> = [
    { what: 'the first certificate for its own name', servername: 'a.test', expectName: 'a.test', san: 'DNS:a.test', cn: 'a.test' },
    { what: 'the second certificate for its name', servername: 'b.test', expectName: 'b.test', san: 'DNS:b.test', cn: 'b.test' },
    { what: 'SNI matched case-insensitively', servername: 'B.Test', expectName: 'b.test', san: 'DNS:b.test', cn: 'b.test' },
    { what: 'the wildcard for a name under it', servername: 'x.w.test', expectName: 'x.w.test', san: 'DNS:*.w.test', cn: 'wildcard' },
    { what: 'the first certificate for an unknown name', servername: 'c.test', expectName: 'a.test', san: 'DNS:a.test', cn: 'a.test' },
    {
      what: 'the first certificate two labels under the wildcard',
      servername: 'y.x.w.test',
      expectName: 'a.test',
      san: 'DNS:a.test',
      cn: 'a.test',
    },
    {
      what: 'the first certificate for the wildcard base name',
      servername: 'w.test',
      expectName: 'a.test',
      san: 'DNS:a.test',
      cn: 'a.test',
    },
    // No servername and an IP host: Node's client sends no SNI at all.
    { what: 'the first certificate without SNI', servername: undefined, expectName: 'a.test', san: 'DNS:a.test', cn: 'a.test' },
  ];
  for (const c of cases) {
    it(`serves ${c.what}`, async () => {
      const h = await connect(lb.port(), { expectName: c.expectName, ...(c.servername ? { servername: c.servername } : {}) });
      expect(h.authorized).toBe(true);
      expect(h.peer?.subjectaltname).toBe(c.san);
      expect(h.peer?.subject.CN).toBe(c.cn);
      close(h);
    });
  }

  it('serves a real request over the SNI-selected certificate', async () => {
    const h = await connect(lb.port(), { expectName: 'b.test', servername: 'b.test' });
    const body = await h.reply;
    expect(body).toMatch(/^HTTP\/1\.1 200 /);
    expect(body).toContain('backend=web1');
  });
});

describe('protocol versions and ciphers', () => {
  let lb: RunningLb;
  let lb13: RunningLb;
  beforeAll(async () => {
    lb = await startFrontend();
    lb13 = await startFrontend({ minVersion: 'TLSv1.3' });
  });

  /** The refusal must come from the balancer's handshake, not from the client's own settings. */
  async function expectServerRefusal(r: RunningLb, options: tls.ConnectionOptions, reason: RegExp): Promise<void> {
    const before = r.logs.filter((l) => l.msg === 'tls handshake failed').length;
    await refused(r.port(), options);
    await waitFor(() => r.logs.filter((l) => l.msg === 'tls handshake failed').length > before, 5000, 'server-side handshake failure');
    const last = r.logs.filter((l) => l.msg === 'tls handshake failed').at(-1)!;
    expect(String(last.err)).toMatch(reason);
  }

  it('refuses a TLS 1.1 client', async () => {
    await expectServerRefusal(
      lb,
      { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' },
      /unsupported protocol|version/i,
    );
  });

  it('accepts TLS 1.2 and TLS 1.3 by default', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const h = await connect(lb.port(), { expectName: 'a.test', servername: 'a.test', minVersion: version, maxVersion: version });
      expect(h.protocol).toBe(version);
      close(h);
    }
  });

  it('refuses a TLS 1.2 client when minVersion is TLSv1.3, and accepts TLS 1.3', async () => {
    await expectServerRefusal(lb13, { maxVersion: 'TLSv1.2' }, /unsupported protocol|version/i);
    const h = await connect(lb13.port(), { expectName: 'a.test', servername: 'a.test' });
    expect(h.protocol).toBe('TLSv1.3');
    close(h);
  });

  it('refuses a client offering only a CBC suite', async () => {
    await expectServerRefusal(lb, { ciphers: 'ECDHE-RSA-AES128-SHA', maxVersion: 'TLSv1.2' }, /no shared cipher|handshake failure/i);
  });

  it('refuses a client offering only static RSA key exchange', async () => {
    await expectServerRefusal(lb, { ciphers: 'AES128-GCM-SHA256', maxVersion: 'TLSv1.2' }, /no shared cipher|handshake failure/i);
  });

  it('accepts a TLS 1.2 client offering only ECDHE with AES-GCM', async () => {
    const h = await connect(lb.port(), {
      expectName: 'a.test',
      servername: 'a.test',
      ciphers: 'ECDHE-RSA-AES128-GCM-SHA256',
      maxVersion: 'TLSv1.2',
    });
    expect(h.cipher).toBe('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    close(h);
  });
});

describe('session resumption', () => {
  let lb: RunningLb;
  beforeAll(async () => {
    lb = await startFrontend();
  });

  const cases = [
    { version: 'TLSv1.2', servername: 'a.test' },
    { version: 'TLSv1.3', servername: 'a.test' },
    // A certificate chosen by the SNI callback: its context must share the ticket keys.
    { version: 'TLSv1.2', servername: 'b.test' },
    { version: 'TLSv1.3', servername: 'b.test' },
  ] as const;
  for (const { version, servername } of cases) {
    it(`resumes a ${version} session (SNI ${servername})`, async () => {
      const options = { expectName: servername, servername, minVersion: version, maxVersion: version };
      const first = await connect(lb.port(), options);
      expect(first.protocol).toBe(version);
      expect(first.reused).toBe(false);
      expect(first.session).toBeDefined();
      close(first);
      const second = await connect(lb.port(), { ...options, session: first.session! });
      expect(second.protocol).toBe(version);
      expect(second.reused).toBe(true);
      close(second);
    });
  }
});

describe('an ECDSA front certificate', () => {
  let port: number;
  beforeAll(async () => {
    const dir = tempDir();
    const ecdsa = issueEcdsaCertificate({ commonName: 'ec.test', altNames: ['ec.test'], issuer: pki.ca });
    const r = await startLb(
      {
        frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [writePair(dir, 'ec', ecdsa)] }, backend: 'web' }],
        backends: [
          {
            name: 'web',
            servers: [{ name: 'web1', address: backend.address, tls: { ca: writePair(dir, 'web1', webCert).cert, servername: 'web1' } }],
          },
        ],
      },
      dir,
    );
    running.push(r);
    port = r.port();
  });

  it('is served and verified, with TLS 1.3 and with an ECDHE-ECDSA suite on TLS 1.2', async () => {
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const h = await connect(port, { servername: 'ec.test', expectName: 'ec.test', maxVersion });
      expect(h.authorized).toBe(true);
      expect(h.peer?.asn1Curve).toBe('prime256v1');
      if (maxVersion === 'TLSv1.2') expect(h.cipher).toMatch(/^TLS_ECDHE_ECDSA_WITH_/);
      expect(await h.reply).toMatch(/^HTTP\/1\.1 200/);
      close(h);
    }
  });
});
