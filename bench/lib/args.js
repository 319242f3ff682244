// The runner's command line: durations, rounds, connections and which scenarios and
// contenders to run. Strict: an unknown flag or a bad value is an error.
import { parseArgs } from 'node:util';

export const USAGE = `usage: npm run bench -- [options]
  --duration S        measured seconds per (scenario, contender, round)   default 10
  --warmup S          unrecorded warm-up seconds before each measurement  default 1
  --rounds N          rounds, contenders interleaved inside each round     default 2
  --connections N     autocannon connections / concurrent TLS loops        default 50
  --only a,b          scenarios to run (default: every quick scenario;
                      "memory" runs only when named, "all" runs everything)
  --contenders a,b    direct,doorman,haproxy,http-proxy,node-floor         default: all available
  --memory-duration S length of the memory scenario's sustained run        default 60
  --idle-connections N open idle TLS connections in the memory scenario    default 1000
  --idle-hold S       seconds idle before the memory scenario's settled figures default 15
  --front-key rsa|ecdsa key of the proxies' front certificate (RSA-2048 or P-256) default rsa
  --no-json           do not write bench/results/<timestamp>.json
  -h, --help`;

function positive(name, text, { integer = false } = {}) {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`--${name}: expected a positive ${integer ? 'integer' : 'number'}, got "${text}"`);
  }
  return n;
}

function list(text) {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function idleHold(text) {
  const sec = positive('idle-hold', text);
  if (sec < 3) throw new Error(`--idle-hold: expected at least 3 seconds, got "${text}"`);
  return sec;
}

function frontKey(text) {
  if (text !== 'rsa' && text !== 'ecdsa') throw new Error(`--front-key: expected rsa or ecdsa, got "${text}"`);
  return text;
}

/** Parses process.argv; throws an Error whose message is the problem. */
export function parseBenchArgs(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '2' },
      connections: { type: 'string', default: '50' },
      only: { type: 'string' },
      contenders: { type: 'string' },
      'memory-duration': { type: 'string', default: '60' },
      'idle-connections': { type: 'string', default: '1000' },
      'idle-hold': { type: 'string', default: '15' },
      'front-key': { type: 'string', default: 'rsa' },
      'no-json': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  return {
    help: values.help,
    durationSec: positive('duration', values.duration),
    warmupSec: values.warmup === '0' ? 0 : positive('warmup', values.warmup),
    rounds: positive('rounds', values.rounds, { integer: true }),
    connections: positive('connections', values.connections, { integer: true }),
    only: values.only ? list(values.only) : null,
    contenders: values.contenders ? list(values.contenders) : null,
    memoryDurationSec: positive('memory-duration', values['memory-duration']),
    idleConnections: positive('idle-connections', values['idle-connections'], { integer: true }),
    idleHoldSec: idleHold(values['idle-hold']),
    frontKey: frontKey(values['front-key']),
    writeJson: !values['no-json'],
  };
}
