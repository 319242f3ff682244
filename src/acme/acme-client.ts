// acme-client, loaded on first use: with axios under it, it costs about 28 MB of resident
// memory, which a balancer without `acme:` (and every worker, which never talks to the
// CA) should not pay. The import is memoised by Node's module cache.
import type AcmeClientModule from 'acme-client';

export type AcmeClient = typeof AcmeClientModule;

/** The acme-client module, imported the first time it is needed. */
export async function loadAcmeClient(): Promise<AcmeClient> {
  return (await import('acme-client')).default;
}
