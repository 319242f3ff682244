// errorPages: operator files instead of the one-line bodies — the backend's for its own
// errors, the frontend's for errors before a backend is known (404 no route, 400 from
// the parser), reloaded with the config, and a missing file refused by --check and reload.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config/read.js';
import { rawExchange, request } from '../helpers/client.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();

describe('error pages', () => {
  let running: RunningLb;
  let dir: string;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    dir = tempDir();
    const front = writePair(dir, 'front', pki.front);
    writeFileSync(join(dir, '503.html'), '<h1>Down for maintenance</h1>\n');
    writeFileSync(join(dir, '404.html'), '<h1>Nothing here</h1>\n');
    writeFileSync(join(dir, '400.txt'), 'Bad request, friend\n');
    config = {
      admin: { bind: '127.0.0.1:0' },
      frontends: [
        {
          name: 'https',
          bind: '127.0.0.1:0',
          tls: { certs: [front] },
          hsts: { maxAge: '1d' },
          errorPages: { 404: '404.html', 400: '400.txt' },
          routes: [{ match: { path: '/app/' }, backend: 'app' }],
        },
      ],
      backends: [{ name: 'app', errorPages: { 503: '503.html' }, servers: [{ name: 'a1', address: '127.0.0.1:9', weight: 0 }] }],
    };
    running = await startLb(config, dir);
  });

  afterAll(async () => running?.close());

  it("serves the backend's page for its 503, as HTML", async () => {
    const reply = await request({ port: running.port(), ca: pki.ca.cert, path: '/app/x' });
    expect(reply.status).toBe(503);
    expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(reply.body).toBe('<h1>Down for maintenance</h1>\n');
  });

  it("serves the frontend's page for a request no route takes", async () => {
    const reply = await request({ port: running.port(), ca: pki.ca.cert, path: '/elsewhere' });
    expect([reply.status, reply.body]).toEqual([404, '<h1>Nothing here</h1>\n']);
    expect(reply.headers['strict-transport-security']).toBe('max-age=86400');
  });

  it("serves the frontend's page for a request the parser refuses, with HSTS", async () => {
    const raw = await rawExchange(
      running.port(),
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
      pki.ca.cert,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect(raw).toContain('Strict-Transport-Security: max-age=86400');
    expect(raw.endsWith('Bad request, friend\n')).toBe(true);
  });

  it('refuses a config naming a missing page, with the path of the key', async () => {
    const file = join(dir, 'missing.yaml');
    writeFileSync(
      file,
      stringify({
        ...config,
        backends: [{ name: 'app', errorPages: { 502: 'nope.html' }, servers: [{ name: 'a1', address: '127.0.0.1:9' }] }],
      }),
    );
    const result = await readConfig(file, {}, true);
    expect(result.problems?.[0]).toMatch(/^backends\.0\.errorPages\.502: cannot read .*nope\.html \(ENOENT\)$/);
  });
});
