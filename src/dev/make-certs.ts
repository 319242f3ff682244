#!/usr/bin/env node
// `npm run certs [-- --out DIR] [--force]`: the development certificates of the demo —
// a local CA, the balancer's front certificate signed by it, and one self-signed
// certificate per demo server. Existing usable files are kept unless --force.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import forge from 'node-forge';
import { createAuthority, issueCertificate, type Authority, type Issued } from './pki.js';
import { isMainModule } from './is-main.js';

/** `certs/` at the project root: two levels up from both `src/dev/` and `dist/dev/`. */
export const DEFAULT_CERT_DIR = fileURLToPath(new URL('../../certs/', import.meta.url));

/** The four certificate/key pairs, by name; `NAME.crt` and `NAME.key` in the folder. */
export type PairName = 'ca' | 'lb' | 'web1' | 'web2';

/** Absolute paths of one pair's files. */
export interface PairFiles {
  readonly cert: string;
  readonly key: string;
}

/** What happened to one pair: created (absent before), replaced (with the reason) or kept. */
export interface PairReport extends PairFiles {
  readonly name: PairName;
  readonly action: 'created' | 'replaced' | 'kept';
  /** Why a pair was replaced. */
  readonly reason?: string;
  /** One line saying what the pair is for. */
  readonly purpose: string;
}

export interface MakeCertsOptions {
  /** Folder to write into (created if missing); default DEFAULT_CERT_DIR. */
  readonly dir?: string;
  /** Replace every pair even when the existing files are usable. */
  readonly force?: boolean;
}

export interface MakeCertsResult {
  readonly dir: string;
  readonly pairs: Readonly<Record<PairName, PairReport>>;
}

const PURPOSES: Readonly<Record<PairName, string>> = {
  ca: 'local dev CA: clients trust this one (curl --cacert)',
  lb: 'front certificate of the https frontend, localhost 127.0.0.1 ::1, signed by the CA',
  web1: 'self-signed certificate of demo server web1 (its own trust anchor, pinned)',
  web2: 'self-signed certificate of demo server web2 (its own trust anchor, pinned)',
};

const DEMO_SERVERS = ['web1', 'web2'] as const;

/** The paths of a pair in `dir`. */
export function pairFiles(dir: string, name: PairName): PairFiles {
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

/**
 * Writes the missing or unusable pairs into `dir` and reports every pair. The front
 * certificate is reissued whenever the CA is new or does not sign it any more.
 */
export async function makeCerts(options: MakeCertsOptions = {}): Promise<MakeCertsResult> {
  const dir = path.resolve(options.dir ?? DEFAULT_CERT_DIR);
  const force = options.force ?? false;
  await mkdir(dir, { recursive: true });

  const caFiles = pairFiles(dir, 'ca');
  const caState = await inspect(caFiles, force);
  let authority: Authority | undefined;
  let ca: PairReport;
  if (caState.usable) {
    ca = report('ca', caFiles, caState);
  } else {
    authority = createAuthority('Doorman Dev CA');
    await writePair(caFiles, authority);
    ca = report('ca', caFiles, caState);
  }

  const lbFiles = pairFiles(dir, 'lb');
  let lbState = await inspect(lbFiles, force);
  if (lbState.usable && authority !== undefined) {
    lbState = { usable: false, existed: true, reason: 'its CA is new' };
  } else if (lbState.usable && caState.usable && !lbState.x509.verify(caState.x509.publicKey)) {
    lbState = { usable: false, existed: true, reason: 'not signed by ca.crt' };
  }
  if (!lbState.usable) {
    authority ??= await loadAuthority(caFiles);
    const front = issueCertificate({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1', '::1'], issuer: authority });
    await writePair(lbFiles, front);
  }
  const lb = report('lb', lbFiles, lbState);

  const web: Partial<Record<PairName, PairReport>> = {};
  for (const name of DEMO_SERVERS) {
    const files = pairFiles(dir, name);
    const state = await inspect(files, force);
    if (!state.usable) {
      await writePair(files, issueCertificate({ commonName: name, altNames: [name, 'localhost', '127.0.0.1'] }));
    }
    web[name] = report(name, files, state);
  }
  return { dir, pairs: { ca, lb, web1: web.web1!, web2: web.web2! } };
}

/** The lines `npm run certs` prints: one per pair, with its files and what happened. */
export function formatCertsReport(result: MakeCertsResult, cwd = process.cwd()): string {
  const relative = path.relative(cwd, result.dir);
  const shown = relative === '' ? '.' : relative.startsWith('..') ? result.dir : relative;
  const lines = [`certificates in ${shown}${path.sep}`];
  for (const pair of Object.values(result.pairs)) {
    const files = `${path.basename(pair.cert)} ${path.basename(pair.key)}`.padEnd(19);
    const reason = pair.reason === undefined ? '' : ` [${pair.reason}]`;
    lines.push(`  ${pair.action.padEnd(8)} ${files} ${pair.purpose}${reason}`);
  }
  return lines.join('\n') + '\n';
}

// ---- existing files --------------------------------------------------------------------

type PairState =
  | { readonly usable: true; readonly x509: X509Certificate }
  | { readonly usable: false; readonly existed: boolean; readonly reason?: string };

// A pair is usable when both files exist, the key belongs to the certificate, and it has not expired.
async function inspect(files: PairFiles, force: boolean): Promise<PairState> {
  const [cert, key] = await Promise.all([readOptional(files.cert), readOptional(files.key)]);
  if (cert === undefined && key === undefined) return { usable: false, existed: false };
  if (force) return { usable: false, existed: true, reason: '--force' };
  if (cert === undefined) return { usable: false, existed: true, reason: `${path.basename(files.cert)} is missing` };
  if (key === undefined) return { usable: false, existed: true, reason: `${path.basename(files.key)} is missing` };
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    return { usable: false, existed: true, reason: `${path.basename(files.cert)} is not a PEM certificate` };
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) {
      return { usable: false, existed: true, reason: 'the key does not match the certificate' };
    }
  } catch {
    return { usable: false, existed: true, reason: `${path.basename(files.key)} is not a PEM private key` };
  }
  if (Date.parse(x509.validTo) <= Date.now()) {
    return { usable: false, existed: true, reason: `expired ${x509.validTo}` };
  }
  return { usable: true, x509 };
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// The kept CA, in node-forge's form, to sign a new front certificate with.
async function loadAuthority(files: PairFiles): Promise<Authority> {
  const [cert, key] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
  try {
    return {
      cert,
      key,
      forgeCert: forge.pki.certificateFromPem(cert),
      forgeKey: forge.pki.privateKeyFromPem(key),
    };
  } catch (err) {
    throw new Error(`cannot sign lb.crt with ${files.cert}: ${(err as Error).message} (run with --force to make a new CA)`, { cause: err });
  }
}

async function writePair(files: PairFiles, pair: Issued): Promise<void> {
  await writeFile(files.key, pair.key, { mode: 0o600 });
  await chmod(files.key, 0o600); // writeFile keeps the mode of a file it overwrites
  await writeFile(files.cert, pair.cert, { mode: 0o644 });
}

function report(name: PairName, files: PairFiles, state: PairState): PairReport {
  const action = state.usable ? 'kept' : state.existed ? 'replaced' : 'created';
  const reason = !state.usable && state.reason !== undefined ? { reason: state.reason } : {};
  return { name, ...files, action, ...reason, purpose: PURPOSES[name] };
}

// ---- command line ----------------------------------------------------------------------

const USAGE = 'usage: npm run certs [-- --out DIR] [--force]';

async function main(): Promise<void> {
  let values: { out?: string | undefined; force?: boolean | undefined; help?: boolean | undefined };
  try {
    values = parseArgs({
      options: {
        out: { type: 'string', short: 'o' },
        force: { type: 'boolean', short: 'f', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const result = await makeCerts({ dir: values.out ?? DEFAULT_CERT_DIR, force: values.force ?? false });
  process.stdout.write(formatCertsReport(result));
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`make-certs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
