// The rise/fall state machine of one server's health, exactly HAProxy's (src/check.c):
// a counter from 0 to rise+fall-1, the server UP while counter >= rise. Pure: no clock, no I/O.

/** The two health states a check can put a server in. */
export type HealthStatus = 'UP' | 'DOWN';

/** How many good checks bring a server UP, and how many failed ones take it DOWN. */
export interface HealthParams {
  readonly rise: number;
  readonly fall: number;
}

/** One server's health: its status and HAProxy's health counter (0 .. rise+fall-1). */
export interface HealthState {
  readonly status: HealthStatus;
  readonly counter: number;
}

/** The result of applying one check (or a passive mark-down): `changed` is true when the status flipped. */
export interface HealthStep {
  readonly state: HealthState;
  readonly changed: boolean;
}

function maxCounter(params: HealthParams): number {
  return params.rise + params.fall - 1;
}

function stateOf(counter: number, params: HealthParams): HealthState {
  return { status: counter >= params.rise ? 'UP' : 'DOWN', counter };
}

/** A new server starts at counter = rise: UP, but its first failed check takes it DOWN (as in HAProxy). */
export function initialHealth(params: HealthParams): HealthState {
  return stateOf(params.rise, params);
}

/**
 * Applies one check result. Success: counter+1 up to rise+fall-1, and reaching rise jumps
 * to rise+fall-1 (fully UP). Failure: counter-1 while it stays >= rise, else 0 (DOWN).
 */
export function nextHealth(state: HealthState, ok: boolean, params: HealthParams): HealthStep {
  const max = maxCounter(params);
  let counter = state.counter;
  if (ok) {
    if (counter < max) {
      counter += 1;
      if (counter >= params.rise) counter = max;
    }
  } else if (counter > 0) {
    counter -= 1;
    if (counter < params.rise) counter = 0;
  }
  const next = stateOf(counter, params);
  return { state: next, changed: next.status !== state.status };
}

/** Passive mark-down: the server is DOWN at once with counter 0, so it needs `rise` good checks to return. */
export function forceDown(state: HealthState, params: HealthParams): HealthStep {
  const next = stateOf(0, params);
  return { state: next, changed: next.status !== state.status };
}

/**
 * Carries a state over to new rise/fall values (a reload): the status is kept and the
 * counter clamped into the new range for that status.
 */
export function rescaleHealth(state: HealthState, params: HealthParams): HealthState {
  const counter =
    state.status === 'UP' ? Math.min(Math.max(state.counter, params.rise), maxCounter(params)) : Math.min(state.counter, params.rise - 1);
  return stateOf(Math.max(counter, 0), params);
}

/** True while a server is between states (UP but not fully healthy, or DOWN with some good checks): the checker then uses fastinter. */
export function isInTransition(state: HealthState, params: HealthParams): boolean {
  return state.status === 'UP' ? state.counter < maxCounter(params) : state.counter > 0;
}

/** True when the server is DOWN with no good check counted: the checker then uses downinter. */
export function isFullyDown(state: HealthState): boolean {
  return state.status === 'DOWN' && state.counter === 0;
}

/**
 * The stats-page text, HAProxy's numbers: "UP", "DOWN", "UP 1/3 (going down)" (one more
 * failed check of fall=3 takes it down) or "DOWN 1/2 (going up)" (one good check of rise=2 seen).
 */
export function describeHealth(state: HealthState, params: HealthParams): string {
  if (!isInTransition(state, params)) return state.status;
  if (state.status === 'UP') {
    return `UP ${state.counter - params.rise + 1}/${params.fall} (going down)`;
  }
  return `DOWN ${state.counter}/${params.rise} (going up)`;
}
