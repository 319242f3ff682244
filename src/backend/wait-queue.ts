// A FIFO of requests waiting for a server slot. Entries leave on grant, timeout or
// client abort; cancelled entries are skipped lazily so removal is O(1).

/** One waiting request. `grant` hands it a server; `cancel` withdraws it. */
export interface Waiter {
  readonly enqueuedAt: number;
  /** False once granted or cancelled. */
  readonly waiting: boolean;
  cancel(): void;
}

interface Entry<T> extends Waiter {
  waiting: boolean;
  resolve(value: T): void;
  accepts: ((value: T) => boolean) | undefined;
}

/** A FIFO of waiters with O(1) cancellation and a live count. */
export class WaitQueue<T> {
  #entries: Entry<T>[] = [];
  #head = 0;
  #size = 0;

  /** Waiting entries (cancelled ones excluded). */
  get size(): number {
    return this.#size;
  }

  /** Adds a waiter; `resolve` is called at most once, when it is granted. */
  push(resolve: (value: T) => void, enqueuedAt = performance.now(), accepts?: (value: T) => boolean): Waiter {
    const entry: Entry<T> = {
      enqueuedAt,
      waiting: true,
      resolve,
      accepts,
      cancel: () => {
        if (!entry.waiting) return;
        entry.waiting = false;
        this.#size -= 1;
      },
    };
    this.#entries.push(entry);
    this.#size += 1;
    return entry;
  }

  /** The oldest waiting entry without removing it. */
  peek(): Waiter | undefined {
    this.#skipCancelled();
    return this.#entries[this.#head];
  }

  /** The oldest waiting entry that accepts `value` (a redispatched request refuses the server it left). */
  peekFor(value: T): Waiter | undefined {
    this.#skipCancelled();
    for (let i = this.#head; i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      if (entry.waiting && (!entry.accepts || entry.accepts(value))) return entry;
    }
    return undefined;
  }

  /** Hands `value` to `waiter` (from peekFor), wherever it stands in the line. */
  grantTo(waiter: Waiter, value: T): void {
    const entry = waiter as Entry<T>;
    if (!entry.waiting) return;
    entry.waiting = false;
    this.#size -= 1;
    this.#skipCancelled();
    entry.resolve(value);
  }

  /** Removes the oldest waiting entry and hands it `value`. False when empty. */
  grant(value: T): boolean {
    this.#skipCancelled();
    const entry = this.#entries[this.#head];
    if (!entry) return false;
    this.#take();
    entry.resolve(value);
    return true;
  }

  /** Removes and returns every waiting entry's resolver, oldest first, with its enqueue time. */
  drain(): Array<{ enqueuedAt: number; resolve: (value: T) => void }> {
    const out: Array<{ enqueuedAt: number; resolve: (value: T) => void }> = [];
    for (;;) {
      this.#skipCancelled();
      const entry = this.#entries[this.#head];
      if (!entry) return out;
      this.#take();
      out.push({ enqueuedAt: entry.enqueuedAt, resolve: entry.resolve });
    }
  }

  #take(): void {
    const entry = this.#entries[this.#head]!;
    entry.waiting = false;
    this.#size -= 1;
    this.#head += 1;
    this.#compact();
  }

  #skipCancelled(): void {
    while (this.#head < this.#entries.length && !this.#entries[this.#head]!.waiting) this.#head += 1;
    this.#compact();
  }

  #compact(): void {
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
