// The one timer of a client connection (no timer per request or chunk): what it means
// when it fires depends on the mode the connection set last; setting a mode restarts it.

/** No limit now (waiting for the server, or tunnelled). */
export const T_NONE = 0;
/** Kept alive between requests: close silently. */
export const T_IDLE = 1;
/** A head not complete in time: 408. */
export const T_HEAD = 2;
/** The request body: the client must make progress. */
export const T_BODY = 3;

/** Told when the timer fires in a mode other than T_NONE. */
export interface TimerTarget {
  onTimer(mode: number): void;
}

function fire(timer: ClientTimer): void {
  timer.fire();
}

/** A refreshable timer with a mode. */
export class ClientTimer {
  readonly #target: TimerTarget;
  readonly #timer: NodeJS.Timeout;
  #mode: number;

  constructor(target: TimerTarget, ms: number, mode: number) {
    this.#target = target;
    this.#mode = mode;
    this.#timer = setTimeout(fire, ms, this);
    this.#timer.unref();
  }

  get mode(): number {
    return this.#mode;
  }

  /** Switches to `mode`; any mode but T_NONE starts a full period from now. */
  set(mode: number): void {
    this.#mode = mode;
    if (mode !== T_NONE) this.#timer.refresh();
  }

  /** Another full period in the same mode. */
  again(): void {
    this.#timer.refresh();
  }

  stop(): void {
    this.#mode = T_NONE;
    clearTimeout(this.#timer);
  }

  fire(): void {
    if (this.#mode !== T_NONE) this.#target.onTimer(this.#mode);
  }
}
