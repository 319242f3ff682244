// One ACME order, start to finish, with acme-client: new order, each authorization's
// challenge published to the serving processes (and withdrawn afterwards, whatever
// happens), the CA asked to validate, then a CSR for a fresh ECDSA key, finalize and
// download. acme-client's own pre-check of the challenge is never called: it would
// resolve the names through the system resolver.
import type acme from 'acme-client';
import { loadAcmeClient } from './acme-client.js';
import type { AcmeChallengeType } from '../config/types.js';
import type { CaClient } from './ca-client.js';
import type { AcmeUpdate } from './serving-state.js';

export interface OrderRequest {
  readonly domains: readonly string[];
  readonly challenge: AcmeChallengeType;
  /** ARI (RFC 9773 §5): the certificate ID this order replaces, when the CA offers renewalInfo. */
  readonly replaces?: string;
}

/** The issued chain and its key, PEM. */
export interface IssuedCertificate {
  readonly cert: string;
  readonly key: string;
}

/** Hands an update to every serving process; resolves once they all have it. */
export type Publish = (update: AcmeUpdate) => Promise<void>;

/** Runs one order through to the certificate; throws with the CA's reason when it fails. */
export async function orderCertificate(client: CaClient, request: OrderRequest, publish: Publish): Promise<IssuedCertificate> {
  const identifiers = request.domains.map((value) => ({ type: 'dns', value }));
  const order = await client.createOrder({ identifiers, ...(request.replaces !== undefined ? { replaces: request.replaces } : {}) });
  const authorizations = await client.getAuthorizations(order);
  const published: AcmeUpdate[] = [];
  try {
    await Promise.all(
      authorizations.map(async (authorization) => {
        if (authorization.status === 'valid') return; // the CA reused a recent validation
        const name = authorization.identifier.value;
        const challenge = authorization.challenges.find((c) => c.type === request.challenge);
        if (!challenge) throw new Error(`the CA offers no ${request.challenge} challenge for ${name}`);
        const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
        const update: AcmeUpdate =
          request.challenge === 'http-01'
            ? { kind: 'http-01', token: (challenge as { token: string }).token, keyAuthorization }
            : { kind: 'tls-alpn-01', name, challenge: await alpnCertificate(authorization, keyAuthorization) };
        published.push(update);
        await publish(update);
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      }),
    );
  } finally {
    await Promise.allSettled(published.map((update) => publish(withdrawal(update))));
  }
  const { crypto } = await loadAcmeClient();
  const key = await crypto.createPrivateEcdsaKey();
  const [, csr] = await crypto.createCsr({ commonName: request.domains[0]!, altNames: [...request.domains] }, key);
  const finalized = await client.finalizeOrder(order, csr);
  const cert = await client.getCertificate(finalized);
  return { cert, key: key.toString() };
}

/** The self-signed certificate with the critical acmeIdentifier extension (RFC 8737 §3). */
async function alpnCertificate(authorization: acme.Authorization, keyAuthorization: string): Promise<{ cert: string; key: string }> {
  const { crypto } = await loadAcmeClient();
  const key = await crypto.createPrivateEcdsaKey();
  const [, cert] = await crypto.createAlpnCertificate(authorization, keyAuthorization, key);
  return { cert: cert.toString(), key: key.toString() };
}

function withdrawal(update: AcmeUpdate): AcmeUpdate {
  switch (update.kind) {
    case 'http-01':
      return { ...update, keyAuthorization: null };
    case 'tls-alpn-01':
      return { ...update, challenge: null };
    case 'certificate':
      return update;
  }
}
