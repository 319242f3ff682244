// Pebble, the ACME test CA (Debian package `pebble`), with pebble-challtestsrv as its DNS
// server answering 127.0.0.1 for every name, so names such as shop.test validate against
// Doorman's test frontends and are never looked up for real. Ports are picked free for
// these external processes; Pebble's own TLS certificate comes from the test PKI, and
// its issuing root is read from its management port to verify what it issued.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import https from 'node:https';
import type { Issued } from '../../src/dev/pki.js';
import { freePort } from './ports.js';
import { waitFor, waitForValue } from './wait.js';

export interface PebbleOptions {
  /** Where its config and certificate go. */
  readonly dir: string;
  /** Pebble validates http-01 on this port and tls-alpn-01 on `tlsPort`, for every name: Doorman's frontends. */
  readonly httpPort: number;
  readonly tlsPort: number;
  /** Pebble's own listener certificate (for 127.0.0.1) and the CA that signed it (what Doorman trusts as acme.ca). */
  readonly listener: Issued;
  readonly listenerCa: string;
  /** Names Pebble refuses to issue for (rejectedIdentifier). */
  readonly blocked?: readonly string[];
  /** Lifetime of issued certificates. */
  readonly validitySeconds?: number;
  /** External account binding required, with these kid → base64url HMAC keys. */
  readonly eab?: Readonly<Record<string, string>>;
}

export interface Pebble {
  /** The ACME directory URL. */
  readonly directory: string;
  /** Starts both processes and waits until the directory answers. */
  start(): Promise<void>;
  /** Stops both processes (by PID) and waits for their exit. */
  stop(): Promise<void>;
  /** The root that signs Pebble's issuing chain (PEM). */
  root(): Promise<string>;
  /** Their output so far, for failure messages. */
  output(): string;
}

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, sink: (text: string) => void): Running {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => sink(c.toString()));
  child.stderr.on('data', (c: Buffer) => sink(c.toString()));
  child.on('error', (err) => sink(`${command}: ${err.message}\n`));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, exited };
}

async function terminate(running: Running | null): Promise<void> {
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill('SIGTERM');
  const timer = setTimeout(() => running.child.kill('SIGKILL'), 3_000);
  await running.exited;
  clearTimeout(timer);
}

/** Prepares a Pebble (config written, ports chosen); nothing runs until start(). */
export async function preparePebble(options: PebbleOptions): Promise<Pebble> {
  const [acmePort, managementPort, dnsPort, challtestManagementPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  writeFileSync(join(options.dir, 'pebble.crt'), options.listener.cert);
  writeFileSync(join(options.dir, 'pebble.key'), options.listener.key);
  const configFile = join(options.dir, 'pebble.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: join(options.dir, 'pebble.crt'),
        privateKey: join(options.dir, 'pebble.key'),
        httpPort: options.httpPort,
        tlsPort: options.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: options.eab !== undefined,
        ...(options.eab ? { externalAccountMACKeys: options.eab } : {}),
        domainBlocklist: options.blocked ?? [],
        certificateValidityPeriod: options.validitySeconds ?? 90 * 86_400,
      },
    }),
  );
  const agent = new https.Agent({ ca: options.listenerCa });
  /** GETs a URL of Pebble's, trusting its listener's certificate. */
  const get = (url: string): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      https
        .get(url, { agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        })
        .on('error', reject);
    });
  let log = '';
  const sink = (text: string) => (log += text);
  let dns: Running | null = null;
  let pebble: Running | null = null;
  const directory = `https://127.0.0.1:${acmePort}/dir`;

  return {
    directory,
    async start() {
      dns = run(
        'pebble-challtestsrv',
        [
          '-defaultIPv4',
          '127.0.0.1',
          '-defaultIPv6',
          '',
          '-dns01',
          `127.0.0.1:${dnsPort}`,
          '-http01',
          '',
          '-https01',
          '',
          '-tlsalpn01',
          '',
          '-management',
          `127.0.0.1:${challtestManagementPort}`,
        ],
        {},
        sink,
      );
      const challtestsrv = dns;
      await waitFor(
        () => {
          if (challtestsrv.child.exitCode !== null) throw new Error(`pebble-challtestsrv exited: ${log}`);
          return log.includes('Starting challenge servers');
        },
        10_000,
        () => `pebble-challtestsrv (output: ${log})`,
      );
      // No random sleeps, no rejected nonces, every order validated anew: deterministic tests.
      const server = run(
        'pebble',
        ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`],
        { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
        sink,
      );
      pebble = server;
      let lastTry = 'no answer yet';
      await waitForValue(
        async () => {
          // A pebble that could not start (a port taken, say) fails the wait at once, saying why.
          if (server.child.exitCode !== null) throw new Error(`pebble exited: ${log}`);
          try {
            const { status } = await get(directory);
            lastTry = `status ${status}`;
            return status === 200 ? true : undefined;
          } catch (err) {
            lastTry = (err as Error).message;
            return undefined;
          }
        },
        10_000,
        () => `pebble's directory (last try: ${lastTry}; output: ${log})`,
      );
    },
    async stop() {
      await terminate(pebble);
      await terminate(dns);
      pebble = null;
      dns = null;
    },
    async root() {
      return (await get(`https://127.0.0.1:${managementPort}/roots/0`)).text;
    },
    output: () => log,
  };
}

/** Prepares and starts a Pebble. */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const pebble = await preparePebble(options);
  await pebble.start();
  return pebble;
}
