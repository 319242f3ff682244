// llhttp, Node's own HTTP/1.1 parser in strict mode, as a test oracle: a real
// http.Server is handed an in-memory Duplex (`server.emit('connection', duplex)`, which
// Node documents for any Duplex) carrying the bytes, and what it makes of them is read
// from its events: request / checkContinue / checkExpectation, upgrade, connect,
// clientError, rawHeaders and the body's data.
import http from 'node:http';
import { Duplex } from 'node:stream';
import type { SeenConnection, SeenMessage } from './h1-connection.js';

interface Run {
  readonly seen: SeenConnection;
  readonly chunks: Map<SeenMessage, Buffer[]>;
  readonly requests: Map<SeenMessage, http.IncomingMessage>;
}

/** One server reused for every run; runs are told apart by their socket. */
export class LlhttpOracle {
  readonly #server: http.Server;
  readonly #runs = new WeakMap<object, Run>();

  constructor() {
    // requireHostHeader off: that check is Node's, not llhttp's, and the Host rules are tested apart.
    this.#server = http.createServer({ insecureHTTPParser: false, requireHostHeader: false, maxHeaderSize: 65536 });
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const run = this.#runs.get(req.socket)!;
      const message = this.#message(run, req, false);
      message.keepAlive = res.shouldKeepAlive;
      req.on('data', (data: Buffer) => run.chunks.get(message)!.push(data));
      req.on('end', () => res.end());
    };
    const onUpgrade = (req: http.IncomingMessage, socket: Duplex): void => {
      this.#message(this.#runs.get(socket)!, req, true);
      socket.destroy();
    };
    this.#server.on('request', onRequest);
    this.#server.on('checkContinue', onRequest);
    this.#server.on('checkExpectation', onRequest);
    this.#server.on('upgrade', onUpgrade);
    this.#server.on('connect', onUpgrade);
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const run = this.#runs.get(socket);
      if (run !== undefined && run.seen.error === null) run.seen.error = err.code ?? String(err);
      // Later, so that the body bytes parsed before the error reach their 'data' listeners first.
      setImmediate(() => socket.destroy());
    });
  }

  #message(run: Run, req: http.IncomingMessage, upgrade: boolean): SeenMessage {
    const message: SeenMessage = {
      method: req.method!,
      url: req.url!,
      version: req.httpVersion,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      complete: false,
      keepAlive: false,
      upgrade,
    };
    run.seen.messages.push(message);
    run.chunks.set(message, []);
    run.requests.set(message, req);
    return message;
  }

  /** What llhttp makes of a connection that sends `bytes` then ends. */
  read(bytes: Buffer): Promise<SeenConnection> {
    return new Promise((resolve) => {
      const socket = new Duplex({
        read() {},
        write(_chunk, _encoding, callback) {
          callback();
        },
      });
      // What Node may call on a net.Socket; no-ops on this in-memory one.
      Object.assign(socket, { setTimeout: () => socket, setNoDelay: () => socket, setKeepAlive: () => socket, remoteAddress: '127.0.0.1' });
      const run: Run = { seen: { messages: [], error: null }, chunks: new Map(), requests: new Map() };
      this.#runs.set(socket, run);
      const timer = setTimeout(() => {
        run.seen.error ??= 'oracle-timeout';
        socket.destroy();
      }, 2000);
      socket.on('close', () => {
        clearTimeout(timer);
        for (const message of run.seen.messages) {
          message.body = Buffer.concat(run.chunks.get(message)!);
          // Set by Node when llhttp completes the message, before any later error.
          message.complete = !message.upgrade && run.requests.get(message)!.complete;
        }
        resolve(run.seen);
      });
      this.#server.emit('connection', socket);
      socket.push(bytes);
      socket.push(null);
    });
  }

  close(): void {
    this.#server.close();
  }
}
