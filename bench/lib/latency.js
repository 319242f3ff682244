// Response times in milliseconds with sub-millisecond resolution (autocannon's own
// histogram keeps whole milliseconds), bounded in memory: past `cap` samples only
// the count grows.

/** Records latencies; `summary()` gives p50, p99, max and the count. */
export class LatencyRecorder {
  #values;
  #n = 0;
  #count = 0;

  constructor(cap = 4_000_000) {
    this.#values = new Float64Array(Math.min(cap, 65_536));
    this.cap = cap;
  }

  add(ms) {
    this.#count += 1;
    if (this.#n === this.#values.length) {
      if (this.#n >= this.cap) return;
      const bigger = new Float64Array(Math.min(this.cap, this.#n * 2));
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.#n++] = ms;
  }

  get count() {
    return this.#count;
  }

  /** Percentiles by the nearest-rank method over the kept samples. */
  summary() {
    const sorted = this.#values.slice(0, this.#n).sort();
    const at = (q) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]);
    return { count: this.#count, kept: this.#n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
  }
}
