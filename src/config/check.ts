// `--check`: reads every certificate, key and CA a valid config names and reports
// what cannot be read or parsed, and frontend keys that do not match their certificate;
// the ACME storage must be writable (the CA itself is not contacted).

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './types.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Checks the files behind `config`; returns problems as `path.to.key: message`, [] when all is well. */
export async function checkConfigFiles(config: Config): Promise<string[]> {
  const checks: Promise<string[]>[] = [];
  config.frontends.forEach((frontend, i) => {
    frontend.tls?.certs.forEach((pair, j) => {
      checks.push(checkCertPair(pair.cert, pair.key, `frontends.${i}.tls.certs.${j}`));
    });
  });
  const pages = (owner: string, errorPages: Config['backends'][number]['errorPages']) => {
    for (const [status, file] of Object.entries(errorPages)) {
      checks.push(readText(file).then((text) => (typeof text === 'string' ? [] : [`${owner}.errorPages.${status}: ${text.problem}`])));
    }
  };
  config.frontends.forEach((frontend, i) => pages(`frontends.${i}`, frontend.errorPages));
  config.backends.forEach((backend, i) => pages(`backends.${i}`, backend.errorPages));
  config.backends.forEach((backend, i) => {
    backend.servers.forEach((server, j) => {
      const ca = server.tls?.ca;
      if (typeof ca === 'string') checks.push(checkCertificates(ca, `backends.${i}.servers.${j}.tls.ca`).then((r) => r.problems));
      const { cert, key } = server.tls ?? {};
      if (cert && key) checks.push(checkCertPair(cert, key, `backends.${i}.servers.${j}.tls`));
    });
  });
  if (config.acme) {
    const { ca, storage } = config.acme;
    if (ca !== null) checks.push(checkCertificates(ca, 'acme.ca').then((r) => r.problems));
    checks.push(storageProblem(storage).then((problem) => (problem === null ? [] : [`acme.storage: ${problem}`])));
  }
  return (await Promise.all(checks)).flat();
}

/**
 * Whether `dir` can hold the ACME storage: a writable folder, or a path whose nearest
 * existing ancestor is a writable folder (created on first use). The problem, or null.
 */
export async function storageProblem(dir: string): Promise<string | null> {
  for (let current = dir; ; current = path.dirname(current)) {
    try {
      const info = await stat(current);
      if (!info.isDirectory()) return `${current} is not a folder`;
      await access(current, constants.W_OK | constants.X_OK);
      return null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && path.dirname(current) !== current) continue;
      return `${current} is not writable (${code ?? reason(err)})`;
    }
  }
}

async function checkCertPair(certFile: string, keyFile: string, at: string): Promise<string[]> {
  const [certs, key] = await Promise.all([checkCertificates(certFile, `${at}.cert`), checkKey(keyFile, `${at}.key`)]);
  const problems = [...certs.problems, ...key.problems];
  const leaf = certs.certificates[0];
  if (leaf !== undefined && key.key !== undefined && !matches(leaf, key.key)) {
    problems.push(`${at}.key: does not match ${at}.cert`);
  }
  return problems;
}

function matches(certificate: X509Certificate, key: KeyObject): boolean {
  try {
    return certificate.checkPrivateKey(key);
  } catch {
    return false; // e.g. an EC key against an RSA certificate
  }
}

interface CertificatesResult {
  readonly certificates: X509Certificate[];
  readonly problems: string[];
}

// Parses every PEM certificate block in `file` (a chain, or a bundle of trust anchors).
async function checkCertificates(file: string, at: string): Promise<CertificatesResult> {
  const text = await readText(file);
  if (typeof text !== 'string') return { certificates: [], problems: [`${at}: ${text.problem}`] };
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { certificates: [], problems: [`${at}: no PEM certificate in ${file}`] };
  const certificates: X509Certificate[] = [];
  const problems: string[] = [];
  blocks.forEach((block, n) => {
    try {
      certificates.push(new X509Certificate(block));
    } catch (err) {
      const which = blocks.length > 1 ? ` (certificate ${n + 1} of ${blocks.length})` : '';
      problems.push(`${at}: invalid certificate in ${file}${which}: ${reason(err)}`);
    }
  });
  return { certificates: problems.length === 0 ? certificates : [], problems };
}

interface KeyResult {
  readonly key: KeyObject | undefined;
  readonly problems: string[];
}

async function checkKey(file: string, at: string): Promise<KeyResult> {
  const text = await readText(file);
  if (typeof text !== 'string') return { key: undefined, problems: [`${at}: ${text.problem}`] };
  try {
    return { key: createPrivateKey(text), problems: [] };
  } catch (err) {
    return { key: undefined, problems: [`${at}: invalid private key in ${file}: ${reason(err)}`] };
  }
}

async function readText(file: string): Promise<string | { problem: string }> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    return { problem: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? reason(err)})` };
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
