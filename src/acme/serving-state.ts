// What a serving process holds of ACME: the certificates issued so far and the pending
// challenges' answers. It changes only through AcmeUpdate messages, the same ones in a
// single process and, over IPC, in every worker of `workers: N`; the frontends read it
// at every handshake (SNI, tls-alpn-01) and every http-01 request.
import { createSecureContext, type SecureContext } from 'node:tls';
import type { DynamicCertificates } from '../tls/frontend.js';
import type { PemPair } from '../tls/self-signed.js';

/** One change, plain JSON (it crosses IPC). A null answer withdraws a challenge. */
export type AcmeUpdate =
  | { readonly kind: 'certificate'; readonly domains: readonly string[]; readonly cert: string; readonly key: string }
  | { readonly kind: 'http-01'; readonly token: string; readonly keyAuthorization: string | null }
  | { readonly kind: 'tls-alpn-01'; readonly name: string; readonly challenge: PemPair | null };

export class AcmeServingState implements DynamicCertificates {
  /** By name: the pair currently served for it (a new object on every renewal). */
  readonly #certificates = new Map<string, PemPair>();
  /** By the domain list: what a snapshot replays. */
  readonly #issued = new Map<string, Extract<AcmeUpdate, { kind: 'certificate' }>>();
  readonly #tokens = new Map<string, string>();
  readonly #alpn = new Map<string, { readonly pair: PemPair; readonly context: SecureContext }>();

  apply(update: AcmeUpdate): void {
    switch (update.kind) {
      case 'certificate': {
        const pair: PemPair = { cert: update.cert, key: update.key };
        this.#issued.set(update.domains.join(','), update);
        for (const name of update.domains) this.#certificates.set(name, pair);
        return;
      }
      case 'http-01':
        if (update.keyAuthorization === null) this.#tokens.delete(update.token);
        else this.#tokens.set(update.token, update.keyAuthorization);
        return;
      case 'tls-alpn-01':
        if (update.challenge === null) this.#alpn.delete(update.name);
        else
          this.#alpn.set(update.name, {
            pair: update.challenge,
            context: createSecureContext({ cert: update.challenge.cert, key: update.challenge.key }),
          });
        return;
    }
  }

  /** Every certificate and pending challenge, as updates: what a new worker is sent. */
  snapshot(): AcmeUpdate[] {
    return [
      ...this.#issued.values(),
      ...[...this.#tokens].map(([token, keyAuthorization]): AcmeUpdate => ({ kind: 'http-01', token, keyAuthorization })),
      ...[...this.#alpn].map(([name, { pair }]): AcmeUpdate => ({ kind: 'tls-alpn-01', name, challenge: pair })),
    ];
  }

  certificate(name: string): PemPair | undefined {
    return this.#certificates.get(name);
  }

  alpnChallenge(name: string): SecureContext | undefined {
    return this.#alpn.get(name)?.context;
  }

  /** The key authorization of a pending http-01 challenge. */
  httpAnswer(token: string): string | undefined {
    return this.#tokens.get(token);
  }
}
