// What the numbers were measured on: CPU, cores, memory, kernel, Node, HAProxy, tools.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { haproxyVersion } from '../contenders/haproxy.js';

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
  } catch {
    return null;
  }
}

/** The machine facts printed above the tables and stored in the JSON. */
export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    openssl: process.versions.openssl,
    haproxy: haproxyVersion(),
    autocannon: packageVersion('autocannon'),
    httpProxy: packageVersion('http-proxy'),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** The machine facts as printed lines. */
export function machineLines(m) {
  return [
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.kernel}`,
    `node ${m.node} (OpenSSL ${m.openssl}); ${m.haproxy ?? 'haproxy: not on PATH'}; autocannon ${m.autocannon}; http-proxy ${m.httpProxy}`,
    `load average at start: ${m.loadAverage.join(' ')}`,
  ];
}
