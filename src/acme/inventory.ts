// Every certificate the frontends serve, files and ACME alike, as /api/certs, the
// stats page, lb_cert_expiry_timestamp_seconds and the expiry warning see them.
import { readFileSync } from 'node:fs';
import type { AcmeChallengeType, Config } from '../config/types.js';
import { factsOf, leafOf, type CertificateFacts } from './certificate-facts.js';
import type { ManagedCertificateView } from './manager.js';

/** One certificate of one frontend (the shape of /api/certs). */
export interface CertificateView {
  readonly frontend: string;
  readonly names: readonly string[];
  /** Null for an ACME certificate not issued yet. */
  readonly issuer: string | null;
  readonly notAfter: string | null;
  readonly source: 'file' | 'acme';
  /** ACME: when the next order (renewal or retry) is due; null for files and while an order runs. */
  readonly nextRenewal: string | null;
  /** ACME only: how the CA validates, whether an order runs, and the last failure. */
  readonly acme?: {
    readonly challenge: AcmeChallengeType;
    readonly ordering: boolean;
    readonly failures: number;
    readonly lastError: string | null;
  };
}

/** A certificate file of a frontend, read. */
export interface FileCertificate {
  readonly frontend: string;
  readonly facts: CertificateFacts;
}

/** Reads every frontend's certificate files (the config was checked: an unreadable one is skipped). */
export function readFileCertificates(config: Config): FileCertificate[] {
  return config.frontends.flatMap((frontend) =>
    (frontend.tls?.certs ?? []).flatMap((pair) => {
      try {
        return [{ frontend: frontend.name, facts: factsOf(leafOf(readFileSync(pair.cert, 'utf8'))) }];
      } catch {
        return [];
      }
    }),
  );
}

/** The views of `files` and of the ACME certificates of `config`'s frontends, frontend by frontend. */
export function certificateViews(
  config: Config,
  files: readonly FileCertificate[],
  managed: readonly ManagedCertificateView[],
): CertificateView[] {
  return config.frontends.flatMap((frontend): CertificateView[] => {
    const own = files
      .filter((file) => file.frontend === frontend.name)
      .map((file): CertificateView => ({
        frontend: frontend.name,
        names: file.facts.names,
        issuer: file.facts.issuer,
        notAfter: file.facts.notAfter.toISOString(),
        source: 'file',
        nextRenewal: null,
      }));
    const acme = frontend.tls?.acme;
    const entry = acme ? managed.find((m) => m.domains.join(',') === acme.domains.join(',')) : undefined;
    if (acme && entry) {
      own.push({
        frontend: frontend.name,
        names: acme.domains,
        issuer: entry.facts?.issuer ?? null,
        notAfter: entry.facts?.notAfter.toISOString() ?? null,
        source: 'acme',
        nextRenewal: entry.nextAttempt?.toISOString() ?? null,
        acme: { challenge: entry.challenge, ordering: entry.ordering, failures: entry.failures, lastError: entry.lastError },
      });
    }
    return own;
  });
}
