import { describe, expect, it } from 'vitest';
import {
  describeHealth,
  forceDown,
  initialHealth,
  isFullyDown,
  isInTransition,
  nextHealth,
  rescaleHealth,
  type HealthParams,
  type HealthState,
  type HealthStatus,
} from '../../src/health/state.js';

/** Runs a sequence of check results ("+" good, "-" failed) and records every step. */
function run(params: HealthParams, checks: string, start: HealthState = initialHealth(params)) {
  let state = start;
  const steps: Array<{ status: HealthStatus; counter: number; changed: boolean }> = [];
  for (const c of checks) {
    const step = nextHealth(state, c === '+', params);
    state = step.state;
    steps.push({ status: state.status, counter: state.counter, changed: step.changed });
  }
  return steps;
}

const R2F3: HealthParams = { rise: 2, fall: 3 }; // counter 0..4
const R1F1: HealthParams = { rise: 1, fall: 1 }; // counter 0..1

describe('initialHealth', () => {
  it.each([
    [R2F3, 2],
    [R1F1, 1],
    [{ rise: 5, fall: 2 }, 5],
  ])('starts at counter = rise, UP: %o', (params, counter) => {
    expect(initialHealth(params)).toEqual({ status: 'UP', counter });
  });

  it('a new server is DOWN after its first failure, whatever fall is', () => {
    expect(run(R2F3, '-')).toEqual([{ status: 'DOWN', counter: 0, changed: true }]);
    expect(run({ rise: 3, fall: 10 }, '-')).toEqual([{ status: 'DOWN', counter: 0, changed: true }]);
  });

  it('one good check makes a new server fully healthy', () => {
    expect(run(R2F3, '+')).toEqual([{ status: 'UP', counter: 4, changed: false }]);
  });
});

describe('nextHealth, rise=2 fall=3', () => {
  // Each row: the checks from the initial state and the expected (status, counter, changed) after each.
  const table: Array<[string, string, Array<[HealthStatus, number, boolean]>]> = [
    [
      'healthy stays UP',
      '+++',
      [
        ['UP', 4, false],
        ['UP', 4, false],
        ['UP', 4, false],
      ],
    ],
    [
      'goes DOWN after fall failures from full health',
      '+---',
      [
        ['UP', 4, false],
        ['UP', 3, false],
        ['UP', 2, false],
        ['DOWN', 0, true],
      ],
    ],
    [
      'comes back UP after rise good checks',
      '-++',
      [
        ['DOWN', 0, true],
        ['DOWN', 1, false],
        ['UP', 4, true],
      ],
    ],
    [
      'a failure while rising drops to 0',
      '-+-++',
      [
        ['DOWN', 0, true],
        ['DOWN', 1, false],
        ['DOWN', 0, false],
        ['DOWN', 1, false],
        ['UP', 4, true],
      ],
    ],
    [
      'a good check while going down restores full health',
      '+--+---',
      [
        ['UP', 4, false],
        ['UP', 3, false],
        ['UP', 2, false],
        ['UP', 4, false],
        ['UP', 3, false],
        ['UP', 2, false],
        ['DOWN', 0, true],
      ],
    ],
    [
      'failures while DOWN keep it at 0',
      '---',
      [
        ['DOWN', 0, true],
        ['DOWN', 0, false],
        ['DOWN', 0, false],
      ],
    ],
    [
      'flapping never completes a transition',
      '+-+-+-+-',
      [
        ['UP', 4, false],
        ['UP', 3, false],
        ['UP', 4, false],
        ['UP', 3, false],
        ['UP', 4, false],
        ['UP', 3, false],
        ['UP', 4, false],
        ['UP', 3, false],
      ],
    ],
    [
      'flapping while DOWN never comes UP',
      '-+-+-+',
      [
        ['DOWN', 0, true],
        ['DOWN', 1, false],
        ['DOWN', 0, false],
        ['DOWN', 1, false],
        ['DOWN', 0, false],
        ['DOWN', 1, false],
      ],
    ],
  ];

  it.each(table)('%s (%s)', (_name, checks, expected) => {
    expect(run(R2F3, checks)).toEqual(expected.map(([status, counter, changed]) => ({ status, counter, changed })));
  });
});

describe('nextHealth, rise=1 fall=1', () => {
  it.each([
    ['+', [['UP', 1, false]]],
    ['-', [['DOWN', 0, true]]],
    [
      '-+',
      [
        ['DOWN', 0, true],
        ['UP', 1, true],
      ],
    ],
    [
      '+-+-',
      [
        ['UP', 1, false],
        ['DOWN', 0, true],
        ['UP', 1, true],
        ['DOWN', 0, true],
      ],
    ],
    [
      '--++',
      [
        ['DOWN', 0, true],
        ['DOWN', 0, false],
        ['UP', 1, true],
        ['UP', 1, false],
      ],
    ],
  ] as Array<[string, Array<[HealthStatus, number, boolean]>]>)('%s', (checks, expected) => {
    expect(run(R1F1, checks)).toEqual(expected.map(([status, counter, changed]) => ({ status, counter, changed })));
  });
});

describe('forceDown', () => {
  it('takes an UP server DOWN at counter 0', () => {
    expect(forceDown({ status: 'UP', counter: 4 }, R2F3)).toEqual({ state: { status: 'DOWN', counter: 0 }, changed: true });
  });

  it('resets a rising server without a transition', () => {
    expect(forceDown({ status: 'DOWN', counter: 1 }, R2F3)).toEqual({ state: { status: 'DOWN', counter: 0 }, changed: false });
  });

  it('needs rise good checks to come back', () => {
    const down = forceDown(initialHealth(R2F3), R2F3).state;
    expect(run(R2F3, '++', down).map((s) => s.status)).toEqual(['DOWN', 'UP']);
  });
});

describe('isInTransition / isFullyDown / describeHealth, rise=2 fall=3', () => {
  const rows: Array<[HealthState, boolean, boolean, string]> = [
    [{ status: 'UP', counter: 4 }, false, false, 'UP'],
    [{ status: 'UP', counter: 3 }, true, false, 'UP 2/3 (going down)'],
    [{ status: 'UP', counter: 2 }, true, false, 'UP 1/3 (going down)'],
    [{ status: 'DOWN', counter: 1 }, true, false, 'DOWN 1/2 (going up)'],
    [{ status: 'DOWN', counter: 0 }, false, true, 'DOWN'],
  ];

  it.each(rows)('%o', (state, transition, fullyDown, text) => {
    expect(isInTransition(state, R2F3)).toBe(transition);
    expect(isFullyDown(state)).toBe(fullyDown);
    expect(describeHealth(state, R2F3)).toBe(text);
  });

  it('a new server is in transition until its first good check (so fastinter applies)', () => {
    expect(isInTransition(initialHealth(R2F3), R2F3)).toBe(true);
    expect(isInTransition(initialHealth(R1F1), R1F1)).toBe(false);
  });
});

describe('rescaleHealth', () => {
  it.each([
    [
      { status: 'UP', counter: 4 },
      { rise: 1, fall: 1 },
      { status: 'UP', counter: 1 },
    ],
    [
      { status: 'UP', counter: 2 },
      { rise: 3, fall: 3 },
      { status: 'UP', counter: 3 },
    ],
    [
      { status: 'DOWN', counter: 1 },
      { rise: 1, fall: 2 },
      { status: 'DOWN', counter: 0 },
    ],
    [
      { status: 'DOWN', counter: 1 },
      { rise: 3, fall: 2 },
      { status: 'DOWN', counter: 1 },
    ],
  ] as Array<[HealthState, HealthParams, HealthState]>)('%o with %o', (state, params, expected) => {
    expect(rescaleHealth(state, params)).toEqual(expected);
  });
});
