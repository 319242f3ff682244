// gRPC through Doorman: grpc-js clients over HTTP/2 to the frontend, grpc-js servers
// behind it reached over HTTP/2 (`protocol: h2`) with pinned TLS. Unary and
// server-streaming calls, statuses in trailers (and trailers-only answers), a deadline,
// and a server killed mid-stream.
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const serverCert = pki.selfSigned('web1');
const bytes = (b: Buffer) => b;

/** A service with no .proto: messages are raw bytes. */
const echoService = {
  unary: {
    path: '/doorman.test.Echo/Unary',
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
  count: {
    path: '/doorman.test.Echo/Count',
    requestStream: false,
    responseStream: true,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
} as const;
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');

interface GrpcServer {
  readonly server: grpc.Server;
  readonly address: string;
  /** x-forwarded-for of every call, as the server saw it. */
  readonly forwardedFor: string[];
}

type Handlers = Partial<{
  unary: grpc.handleUnaryCall<Buffer, Buffer>;
  count: grpc.handleServerStreamingCall<Buffer, Buffer>;
}>;

async function startGrpcServer(handlers: Handlers = {}): Promise<GrpcServer> {
  const forwardedFor: string[] = [];
  const server = new grpc.Server();
  server.addService(echoService, {
    unary:
      handlers.unary ??
      ((call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        forwardedFor.push(String(call.metadata.get('x-forwarded-for')[0]));
        callback(null, Buffer.concat([Buffer.from('echo:'), call.request]));
      }),
    count:
      handlers.count ??
      ((call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const n = Number(call.request.toString());
        for (let i = 1; i <= n; i += 1) call.write(Buffer.from(String(i)));
        call.end();
      }),
  });
  const credentials = grpc.ServerCredentials.createSsl(null, [
    { private_key: Buffer.from(serverCert.key), cert_chain: Buffer.from(serverCert.cert) },
  ]);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, address: `127.0.0.1:${port}`, forwardedFor };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(
  handlers?: Handlers,
  backend: Record<string, unknown> = {},
): Promise<{ grpcServer: GrpcServer; running: RunningLb; client: grpc.Client }> {
  const grpcServer = await startGrpcServer(handlers);
  cleanups.push(() => grpcServer.server.forceShutdown());
  const running = await startProxy(pki.front, [{ name: 'web1', address: grpcServer.address, trust: serverCert }], {
    // grpc-js answers a plain GET with 415 (not application/grpc): that is its liveness answer.
    backend: { protocol: 'h2', check: { path: '/health', interval: '60s', expect: 415 }, ...backend },
  });
  cleanups.push(() => running.close());
  const client = new EchoClient(`localhost:${running.port()}`, grpc.credentials.createSsl(Buffer.from(pki.ca.cert)));
  cleanups.push(() => client.close());
  return { grpcServer, running, client };
}

function unary(client: grpc.Client, request: string, options: grpc.CallOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(echoService.unary.path, bytes, bytes, Buffer.from(request), new grpc.Metadata(), options, (err, value) =>
      err ? reject(err) : resolve(value!),
    ),
  );
}

function serverStream(client: grpc.Client, request: string): { messages: string[]; done: Promise<void> } {
  const messages: string[] = [];
  const call = client.makeServerStreamRequest(echoService.count.path, bytes, bytes, Buffer.from(request), new grpc.Metadata(), {});
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (m: Buffer) => messages.push(m.toString()));
    call.on('error', reject);
    call.on('end', resolve);
  });
  return { messages, done };
}

describe('gRPC through Doorman', () => {
  it('carries a unary call, with X-Forwarded-For in the metadata', async () => {
    const { client, grpcServer, running } = await setup();
    expect((await unary(client, 'hi')).toString()).toBe('echo:hi');
    expect(grpcServer.forwardedFor).toEqual(['127.0.0.1']);
    await waitFor(() => running.logs.some((l) => l.msg === 'access'), 5000, 'access line');
    expect(running.logs.find((l) => l.msg === 'access')).toMatchObject({
      httpVersion: '2.0',
      status: 200,
      path: echoService.unary.path,
      server: 'web1',
    });
  });

  it('health-checks the server over HTTP/2', async () => {
    const { running } = await setup();
    await running.lb.health.checker.runOnce('web/web1');
    const server = running.lb.control.view().backends[0]!.servers[0]!;
    // An HTTP/1.1 check would get no answer at all from grpc-js (h2 only): a status means it spoke h2.
    expect(server.lastCheck).toMatchObject({ status: 'ok', code: 415 });
    expect(server.state).toBe('UP');
  });

  it('carries a server-streaming call to its end', async () => {
    const { client } = await setup();
    const call = serverStream(client, '25');
    await call.done;
    expect(call.messages).toEqual(Array.from({ length: 25 }, (_, i) => String(i + 1)));
  });

  it('passes an error status and its message through (a trailers-only answer)', async () => {
    const { client } = await setup({
      unary: (_call, callback) => callback({ code: grpc.status.NOT_FOUND, details: 'no such thing' }),
    });
    await expect(unary(client, 'x')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
  });

  it('carries 40 concurrent calls', async () => {
    const { client } = await setup();
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => unary(client, String(i))));
    expect(answers.map(String)).toEqual(Array.from({ length: 40 }, (_, i) => `echo:${i}`));
  });

  it('ends a call past its deadline with DEADLINE_EXCEEDED and frees the server slot', async () => {
    const { client, running } = await setup({
      unary: (call, callback) => {
        if (call.request.toString() === 'slow') setTimeout(() => callback(null, Buffer.from('late')), 2_000).unref();
        else callback(null, Buffer.concat([Buffer.from('echo:'), call.request]));
      },
    });
    await expect(unary(client, 'slow', { deadline: Date.now() + 300 })).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    await waitFor(() => running.lb.backends.get('web')!.servers[0]!.active === 0, 5000, 'slot freed');
    expect((await unary(client, 'next')).toString()).toBe('echo:next');
  });

  it('fails a stream whose server dies mid-way, without the messages it never sent', async () => {
    let streaming: grpc.ServerWritableStream<Buffer, Buffer> | undefined;
    const { client, grpcServer } = await setup({
      count: (call) => {
        streaming = call;
        call.write(Buffer.from('1'));
      },
    });
    const call = serverStream(client, '10');
    await waitFor(() => call.messages.length === 1, 5000, 'first message');
    expect(streaming).toBeDefined();
    grpcServer.server.forceShutdown();
    expect(typeof ((await call.done.catch((err: unknown) => err)) as { code: unknown }).code).toBe('number');
    expect(call.messages).toEqual(['1']);
  });
});
