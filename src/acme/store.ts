// The ACME storage folder: the account (key and URL) and one file per certificate, as
// JSON with the directory they belong to. Files are 0600, written to a temp file and
// renamed (a crash leaves the old file or the new one, never half of one). A file that
// does not parse, or belongs to another CA or other names, is never overwritten: it is
// moved aside under a new name and reported.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { pairProblem } from './certificate-facts.js';

/** The ACME account Doorman orders with. */
export interface StoredAccount {
  readonly directory: string;
  /** PEM private key of the account. */
  readonly key: string;
  /** The account's URL at the CA, once created. */
  readonly url: string | null;
}

/** A certificate issued for a list of names. */
export interface StoredCertificate {
  readonly directory: string;
  readonly domains: readonly string[];
  /** PEM chain, leaf first. */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
}

/** The file name of a certificate: its first name, which config validation keeps to [a-z0-9.-]. */
function certificateFile(domains: readonly string[]): string {
  return `${domains[0]!}.json`;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** Writes `data` to `file` atomically with mode 0600 (temp file in the same folder, fsync, rename). */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

export class AcmeStore {
  readonly #dir: string;
  readonly #directory: string;
  readonly #logger: Logger;

  /** `dir` is acme.storage; `directory` the CA's directory URL the files must belong to. */
  constructor(dir: string, directory: string, logger: Logger) {
    this.#dir = dir;
    this.#directory = directory;
    this.#logger = logger;
  }

  get #accountFile(): string {
    return path.join(this.#dir, 'account.json');
  }

  /** The stored account of this CA, or null (none yet, or a bad file moved aside). */
  async account(): Promise<StoredAccount | null> {
    return this.#read<StoredAccount>(this.#accountFile, (value) => {
      const { directory, key, url } = (value ?? {}) as Record<string, unknown>;
      if (typeof directory !== 'string' || typeof key !== 'string' || (url !== null && typeof url !== 'string'))
        return { problem: 'not an account file written by Doorman' };
      if (directory !== this.#directory) return { problem: `belongs to another CA (${directory})` };
      if (!key.includes('PRIVATE KEY-----')) return { problem: 'the account key is not a PEM private key' };
      return { value: { directory, key, url } };
    });
  }

  async saveAccount(account: StoredAccount): Promise<void> {
    await writeFileAtomic(this.#accountFile, `${JSON.stringify(account, null, 2)}\n`);
  }

  /** The stored certificate for exactly `domains` from this CA, or null (none yet, or a bad file moved aside). */
  async certificate(domains: readonly string[]): Promise<StoredCertificate | null> {
    return this.#read<StoredCertificate>(path.join(this.#dir, 'certs', certificateFile(domains)), (value) => {
      const stored = (value ?? {}) as Record<string, unknown>;
      const { directory, cert, key } = stored;
      if (typeof directory !== 'string' || !isStringArray(stored.domains) || typeof cert !== 'string' || typeof key !== 'string') {
        return { problem: 'not a certificate file written by Doorman' };
      }
      if (directory !== this.#directory) return { problem: `belongs to another CA (${directory})` };
      if (stored.domains.join(',') !== domains.join(',')) return { problem: `was issued for other names (${stored.domains.join(', ')})` };
      const problem = pairProblem(cert, key, domains);
      if (problem !== null) return { problem };
      return { value: { directory, domains: stored.domains, cert, key } };
    });
  }

  async saveCertificate(certificate: StoredCertificate): Promise<void> {
    await writeFileAtomic(path.join(this.#dir, 'certs', certificateFile(certificate.domains)), `${JSON.stringify(certificate, null, 2)}\n`);
  }

  /** Reads and validates a JSON file; a bad one is moved aside (never overwritten) and reported. */
  async #read<T>(file: string, validate: (value: unknown) => { value: T } | { problem: string }): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let outcome: { value: T } | { problem: string };
    try {
      outcome = validate(JSON.parse(text));
    } catch {
      outcome = { problem: 'not valid JSON' };
    }
    if ('value' in outcome) return outcome.value;
    const aside = `${file}.rejected-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(file, aside);
    this.#logger.error(
      { file, movedTo: aside, reason: outcome.problem },
      'acme storage file is corrupt or foreign: moved aside, a new one will be written',
    );
    return null;
  }
}
