import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SeriesCounter, SeriesHistogram } from '../../src/admin/metrics/series.js';

// The request path's counters and histograms must export exactly what prom-client's would.
describe('SeriesCounter and SeriesHistogram', () => {
  it('print the same text as prom-client for the same events', async () => {
    const buckets = [0.001, 0.01, 0.1, 1];
    const ours = new Registry();
    const theirs = new Registry();
    const c1 = new SeriesCounter('x_total', 'help x', ['backend', 'code'], ours);
    const c2 = new Counter({ name: 'x_total', help: 'help x', labelNames: ['backend', 'code'], registers: [theirs] });
    const h1 = new SeriesHistogram('y_seconds', 'help y', ['backend'], buckets, ours);
    const h2 = new Histogram({ name: 'y_seconds', help: 'help y', labelNames: ['backend'], buckets, registers: [theirs] });
    const web = c1.child({ backend: 'web', code: '200' });
    for (const [backend, value] of [
      ['web', 0.0005],
      ['web', 0.02],
      ['api', 5],
      ['web', 0.1],
      ['api', 0.001],
    ] as const) {
      h1.child({ backend }).observe(value);
      h2.observe({ backend }, value);
      web.inc();
      c2.inc({ backend: 'web', code: '200' });
    }
    c1.child({ backend: 'api', code: '503' }).inc(3);
    c2.inc({ backend: 'api', code: '503' }, 3);
    c1.child({ backend: 'idle', code: '200' });
    c2.inc({ backend: 'idle', code: '200' }, 0);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('returns the same child for the same labels', () => {
    const counter = new SeriesCounter('z_total', 'help', ['a'], new Registry());
    expect(counter.child({ a: '1' })).toBe(counter.child({ a: '1' }));
    expect(counter.child({ a: '1' })).not.toBe(counter.child({ a: '2' }));
  });
});
