// The ACME protocol is acme-client's (JWS, nonces, account, orders); this module only
// builds a client for Doorman's config: the directory, the account key, external account
// binding, the extra trust anchor for the directory's TLS, a timeout, and no retries of
// its own (Doorman's renewal schedule backs off, one log line per attempt).
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type acme from 'acme-client';
import { loadAcmeClient } from './acme-client.js';
import type { AcmeConfig } from '../config/types.js';

/** A failed request to the CA ends the attempt after this long. */
const REQUEST_TIMEOUT_MS = 30_000;

/** The acme-client instance, and the account URL once it exists. */
export type CaClient = acme.Client;

/** The part of acme-client's HttpClient we wrap: every request of a client goes through it. */
interface RequestingClient {
  readonly http: { request(url: string, method: string, opts?: Record<string, unknown>): Promise<unknown> };
}

/**
 * A client for `config`'s CA with `accountKey` (and the account's URL when known). `ca` is
 * the PEM of acme.ca, added to the system's trust anchors for this client only.
 */
export async function createCaClient(
  config: AcmeConfig,
  ca: string | null,
  accountKey: string,
  accountUrl: string | null,
): Promise<CaClient> {
  const acmeClient = await loadAcmeClient();
  const client = new acmeClient.Client({
    directoryUrl: config.directory,
    accountKey,
    ...(accountUrl !== null ? { accountUrl } : {}),
    ...(config.eab !== null ? { externalAccountBinding: { kid: config.eab.kid, hmacKey: config.eab.hmacKey } } : {}),
    // How often it polls a pending challenge or order: quickly first (a CA usually takes a second or two).
    backoffAttempts: 12,
    backoffMin: 250,
    backoffMax: 10_000,
  });
  // acme-client shares one axios instance between clients; per-request options keep the
  // trust anchor and the timeout to this client. `retryAttempt` past its maximum turns its
  // own retries off: a failed request fails the attempt, and the schedule decides.
  const agent = new CaAgent({ keepAlive: true, ...(ca !== null ? { ca: [...rootCertificates, ca] } : {}) });
  const http = (client as unknown as RequestingClient).http;
  const request = http.request.bind(http);
  http.request = async (url, method, opts = {}) => {
    try {
      return await request(url, method, {
        ...opts,
        timeout: REQUEST_TIMEOUT_MS,
        retryAttempt: Number.MAX_SAFE_INTEGER - 1,
        httpsAgent: agent,
      });
    } catch (err) {
      // acme-client's interceptor loses a network error (no response) in a TypeError: name what happened.
      if ((err as { response?: unknown }).response === undefined && agent.lastError)
        throw new Error(`cannot reach the CA at ${url}: ${agent.lastError}`, { cause: err });
      throw err;
    }
  };
  return client;
}

/** An https.Agent that remembers the last connection error (a refused or failed TLS connection to the CA). */
class CaAgent extends https.Agent {
  lastError: string | null = null;

  override createConnection(...args: Parameters<https.Agent['createConnection']>): ReturnType<https.Agent['createConnection']> {
    const socket = super.createConnection(...args);
    socket?.once('error', (err: NodeJS.ErrnoException) => (this.lastError = err.code ?? err.message));
    socket?.once('secureConnect', () => (this.lastError = null));
    return socket;
  }
}

/** A new account key: ECDSA P-256. */
export async function createAccountKey(): Promise<string> {
  return (await (await loadAcmeClient()).crypto.createPrivateEcdsaKey()).toString();
}
