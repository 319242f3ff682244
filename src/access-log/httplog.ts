// HAProxy's `option httplog` line made from an AccessRecord, so log parsers built for
// HAProxy keep working. The fields of HAProxy 2.6's default HTTP format, without
// header captures (none are configured in Doorman):
//
//   %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r
//   127.0.0.1:53264 [03/Dec/2026:03:10:23.914] https~ web/web1 0/0/1/2/3 200 120 - - --VN 1/1/0/0/0 0/0 "GET / HTTP/1.1"
import type { AccessRecord } from '../exchange/access-record.js';

/** What the line needs beyond the record: the frontend's transport and HAProxy's counts at log time. */
export interface HttplogContext {
  /** Date.now() when the request started (`%tr`, printed in local time like HAProxy). */
  readonly startedAtMs: number;
  /** A TLS frontend's name gets HAProxy's `~`. */
  readonly tls: boolean;
  /** Client connections of the process (`%ac`). */
  readonly actconn: number;
  /** Client connections of the frontend (`%fc`). */
  readonly feconn: number;
  /** Requests the backend holds, in flight or queued (`%bc`). */
  readonly beconn: number;
  /** Requests in flight on the server (`%sc`). */
  readonly srvConn: number;
}

/**
 * HAProxy's two-character session state (`%ts`): why the request ended (`-` normal,
 * `C`lient, `S`erver, `s`erver timeout, `P`roxy, `L`ocal, `I`nternal) and where it was
 * (`R`equest, `Q`ueue, `C`onnect, `H`eaders, `D`ata, `-` done).
 */
export function sessionState(r: AccessRecord): string {
  switch (r.termination) {
    case 'normal':
      return '--';
    case 'redirect':
    case 'local':
      return 'LR';
    case 'no-route':
    case 'rate-limited':
      return 'PR';
    case 'bad-request':
      return 'PR';
    case 'client-timeout':
      return 'cR';
    case 'no-server':
    case 'connect-error':
    case 'tls-error':
      return 'SC';
    case 'queue-timeout':
      return 'sQ';
    case 'connect-timeout':
      return 'sC';
    case 'server-timeout':
      return 'sH';
    case 'bad-response':
      return 'PH';
    case 'server-aborted':
      return 'SD';
    case 'server-error':
      return `S${reachedPhase(r)}`;
    case 'client-aborted':
      return `C${reachedPhase(r)}`;
    case 'internal-error':
      return `I${reachedPhase(r)}`;
  }
}

/** How far the request got, from the timings the record carries. */
function reachedPhase(r: AccessRecord): 'R' | 'Q' | 'C' | 'H' | 'D' {
  if (r.responseMs >= 0) return 'D';
  if (r.connectMs >= 0) return 'H';
  if (r.server !== '') return 'C';
  if (r.queueMs >= 0) return 'Q';
  return 'R';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Whole milliseconds, -1 kept for "not reached". */
function ms(value: number): number {
  return value < 0 ? -1 : Math.floor(value);
}

/** HAProxy's log encoding of the request line: control bytes, DEL and above, `"` and `#` become `#XX`. */
const NEEDS_ENCODING = /[\x00-\x1f\x7f-\uffff"#]/;

function encodeRequestText(text: string): string {
  if (!NEEDS_ENCODING.test(text)) return text;
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code >= 0x20 && code < 0x7f && char !== '"' && char !== '#') {
      out += char;
      continue;
    }
    // Node hands the target over as latin1 (one char per byte); anything wider is UTF-8 on the wire.
    const bytes = code <= 0xff ? [code] : Buffer.from(char, 'utf8');
    for (const byte of bytes) out += `#${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Returns a formatter; each keeps its own cache of the date text, which changes once a second. */
export function createHttplogFormatter(): (record: AccessRecord, context: HttplogContext) => string {
  let cachedSecond = Number.NaN;
  let cachedDate = '';

  /** `03/Dec/2026:03:10:23.914`, local time. */
  function requestDate(epochMs: number): string {
    const second = Math.floor(epochMs / 1000);
    if (second !== cachedSecond) {
      const d = new Date(second * 1000);
      cachedDate =
        `${pad(d.getDate(), 2)}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:` +
        `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}`;
      cachedSecond = second;
    }
    return `${cachedDate}.${pad(Math.floor(epochMs) - second * 1000, 3)}`;
  }

  return function formatHttplog(r, c) {
    const frontend = c.tls ? `${r.frontend}~` : r.frontend;
    // A request answered by the frontend itself (redirect) is logged on the frontend, as HAProxy does.
    const backend = r.backend === '' ? r.frontend : r.backend;
    const server = r.server === '' ? '<NOSRV>' : r.server;
    // Node hands a request over once its headers are in: no time to receive them is known (TR).
    const timers = `0/${ms(r.queueMs)}/${ms(r.connectMs)}/${ms(r.responseMs)}/${ms(r.totalMs)}`;
    const status = r.status > 0 ? r.status : -1;
    const retries = r.redispatched ? `+${r.retries}` : String(r.retries);
    const request = `${r.method} ${encodeRequestText(r.path)} HTTP/${r.httpVersion}`;
    return (
      `${r.clientAddress}:${r.clientPort} [${requestDate(c.startedAtMs)}] ${frontend} ${backend}/${server} ` +
      `${timers} ${status} ${r.bytesOut} - - ${sessionState(r)}${r.cookieIn}${r.cookieOut} ` +
      `${c.actconn}/${c.feconn}/${c.beconn}/${c.srvConn}/${retries} ${r.serverQueueAhead}/${r.backendQueueAhead} "${request}"`
    );
  };
}
