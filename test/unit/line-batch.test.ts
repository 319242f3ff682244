import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLineBatch } from '../../src/line-batch.js';

describe('createLineBatch', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes the lines of one burst as one string, in order, after the delay', () => {
    const written: string[] = [];
    const batch = createLineBatch({ write: (s: string) => written.push(s) }, 10);
    batch.write('a\n');
    batch.write('b\n');
    expect(written).toEqual([]);
    vi.advanceTimersByTime(10);
    expect(written).toEqual(['a\nb\n']);
    batch.write('c\n');
    vi.advanceTimersByTime(10);
    expect(written).toEqual(['a\nb\n', 'c\n']);
  });

  it('flushNow writes at once and cancels the timer', () => {
    const written: string[] = [];
    const batch = createLineBatch({ write: (s: string) => written.push(s) }, 10);
    batch.write('a\n');
    batch.flushNow();
    expect(written).toEqual(['a\n']);
    vi.advanceTimersByTime(20);
    expect(written).toEqual(['a\n']);
    batch.flushNow();
    expect(written).toEqual(['a\n']);
  });

  it('does not wait for the timer once a batch is large', () => {
    const written: string[] = [];
    const batch = createLineBatch({ write: (s: string) => written.push(s) }, 10);
    const line = `${'x'.repeat(1023)}\n`;
    for (let i = 0; i < 64; i++) batch.write(line);
    expect(written).toHaveLength(1);
    expect(written[0]).toHaveLength(64 * 1024);
  });
});
