// A GET of a small JSON document from the CA (its directory, ARI's renewalInfo), trusting
// `acme.ca` when set: node:https, bounded in time and size.
import https from 'node:https';

/** A CA document is a few kilobytes; more is not one. */
const MAX_BYTES = 256 * 1024;

export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** GETs `url` through `agent` (null: the system's trust); rejects on a network error, a timeout, or a body that is not JSON. */
export function getJson(url: string, agent: https.Agent | null, timeoutMs: number): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...(agent ? { agent } : {}), timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BYTES) req.destroy(new Error(`${url}: answer larger than ${MAX_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        try {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text === '' ? null : (JSON.parse(text) as unknown) });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
