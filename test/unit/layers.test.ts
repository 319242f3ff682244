// Imports only go downward: a module may import its own folder and the layers below
// it, never a layer above. The order is the request's path read bottom-up, the same
// one docs/lifecycle.md describes.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(new URL('../../src', import.meta.url).pathname);

/** Bottom first. Each entry is a folder or a file under src/ (without .ts). */
const LAYERS: readonly (readonly string[])[] = [
  ['errors', 'config', 'log', 'line-batch', 'process-signals', 'heap-trim', 'h1', 'client-address', 'proxy-protocol'],
  ['tls', 'limits'],
  // ACME orders certificates the frontends serve; it sits on tls and config only.
  ['acme'],
  ['upstream'],
  ['balancer'],
  ['backend'],
  ['health'],
  ['exchange'],
  // Doorman's own HTTP/1.1 front sits on the h1 parsers and drives the exchange.
  ['h2', 'h1/front'],
  ['frontend'],
  ['access-log'],
  ['admin'],
  ['load-balancer', 'app'],
  ['cluster'],
  ['lb', 'ctl', 'dev'],
];

function unitOf(file: string): string {
  const rel = relative(SRC, file);
  if (rel.startsWith('h1/front/')) return 'h1/front';
  const first = rel.split('/')[0]!;
  return first.replace(/\.(ts|js)$/, '');
}

function rankOf(unit: string): number {
  const rank = LAYERS.findIndex((layer) => layer.includes(unit));
  if (rank < 0) throw new Error(`src/${unit} is in no layer: add it to LAYERS`);
  return rank;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('module layers', () => {
  it('has every import of src/ point to the same unit or a lower layer', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, 'utf8');
      const from = unitOf(file);
      for (const match of text.matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
        const target = resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts'));
        if (!target.startsWith(SRC)) continue;
        const to = unitOf(target);
        if (to !== from && rankOf(to) > rankOf(from)) violations.push(`${relative(SRC, file)} imports ${relative(SRC, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('puts every folder and top-level file of src/ in a layer', () => {
    for (const entry of readdirSync(SRC)) expect(() => rankOf(entry.replace(/\.ts$/, ''))).not.toThrow();
  });
});
