// Abuse limits of one HTTP/2 client connection that nghttp2 does not apply by itself:
// the rapid-reset attack (CVE-2023-44487: open a stream, reset it at once, repeat) costs
// the server a request each time, so resets past a rate end the connection with GOAWAY
// ENHANCE_YOUR_CALM. Floods of SETTINGS, PING, CONTINUATION or invalid frames, and
// streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused by nghttp2 and node:http2
// (limits set in the listener); they end here only as a session error, never a crash.
import http2, { type Http2Session, type ServerHttp2Stream } from 'node:http2';

const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

export interface SessionLimits {
  /** Streams the client may reset (or abandon) per second before the connection is closed. */
  readonly resetsPerSecond: number;
}

/** Why a session was closed for abuse, for the log and the metric. */
export type AbuseReason = 'rapid-reset';

/** Watches a session; `streamOpened` must see every stream of it. */
export class SessionGuard {
  readonly #session: Http2Session;
  readonly #limits: () => SessionLimits;
  readonly #onAbuse: (reason: AbuseReason) => void;
  #windowStart = 0;
  #resets = 0;
  #closed = false;

  constructor(session: Http2Session, limits: () => SessionLimits, onAbuse: (reason: AbuseReason) => void) {
    this.#session = session;
    this.#limits = limits;
    this.#onAbuse = onAbuse;
  }

  streamOpened(stream: ServerHttp2Stream): void {
    // 'aborted': the peer reset the stream (or the session died) before our answer ended.
    stream.once('aborted', this.#onReset);
  }

  readonly #onReset = (): void => {
    if (this.#closed || this.#session.destroyed) return;
    const now = performance.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#resets = 0;
    }
    this.#resets += 1;
    if (this.#resets > this.#limits().resetsPerSecond) this.#close('rapid-reset');
  };

  #close(reason: AbuseReason): void {
    this.#closed = true;
    this.#onAbuse(reason);
    // GOAWAY with the code, then a close that lets the frame leave (destroying at once
    // can drop it); the streams it opened were reset anyway, and a client that keeps
    // some open loses the connection a second later.
    const session = this.#session;
    session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    session.close();
    setTimeout(() => session.destroy(), 1000).unref();
  }
}
