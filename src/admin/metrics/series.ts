// Counters and histograms for the request path whose label sets are resolved once.
// prom-client hashes the label object on every inc/observe, its `labels()` children
// included; that was about 1.6 us of every request for five metrics. Here a caller
// keeps the child of its label set and adds to plain numbers. The metrics register in
// a prom-client Registry and export in its JSON shape, so /metrics and the workers'
// aggregation see ordinary counters and histograms.
import type { Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

/** One label set of a counter. */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}

  inc(by = 1): void {
    this.value += by;
  }
}

/** One label set of a histogram: per-bucket (not cumulative) counts, sum and count. */
export class HistogramSeries {
  readonly #bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    bounds: readonly number[],
  ) {
    this.#bounds = bounds;
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i += 1;
    if (i < bounds.length) this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

/** The value shape prom-client's Registry formats and aggregates. */
interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

abstract class SeriesMetric<S extends { labels: Labels }> {
  readonly aggregator = 'sum';
  readonly #children = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    // Any object with name and get() is a metric to a Registry.
    registry.registerMetric(this as never);
  }

  /** The series of `labels`, created at zero on first use. Resolve it once and keep it. */
  child(labels: Labels): S {
    const key = this.labelNames.map((name) => labels[name] ?? '').join('\0');
    let series = this.#children.get(key);
    if (series === undefined) {
      series = this.create(labels);
      this.#children.set(key, series);
    }
    return series;
  }

  protected abstract create(labels: Labels): S;
  protected abstract values(series: S): MetricValue[];

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const series of this.#children.values()) values.push(...this.values(series));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  abstract readonly type: 'counter' | 'histogram';

  reset(): void {
    this.#children.clear();
  }
}

/** A counter (`..._total`) with per-label-set children. */
export class SeriesCounter extends SeriesMetric<CounterSeries> {
  readonly type = 'counter';

  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(labels);
  }

  protected values(series: CounterSeries): MetricValue[] {
    return [{ labels: { ...series.labels }, value: series.value }];
  }
}

/** A histogram with fixed buckets and per-label-set children. */
export class SeriesHistogram extends SeriesMetric<HistogramSeries> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
    this.#bounds = [...buckets].sort((a, b) => a - b);
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.#bounds);
  }

  protected values(series: HistogramSeries): MetricValue[] {
    const out: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    let cumulative = 0;
    this.#bounds.forEach((le, i) => {
      cumulative += series.counts[i]!;
      out.push({ labels: { le, ...series.labels }, value: cumulative, metricName: bucket });
    });
    out.push({ labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: bucket });
    out.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` });
    out.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` });
    return out;
  }
}
