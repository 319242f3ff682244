// The part of @bcoe/v8-coverage (vitest's own merger of raw V8 coverage) used here: it ships no types.
declare module '@bcoe/v8-coverage' {
  import type { Profiler } from 'node:inspector';

  export type ScriptCov = Profiler.ScriptCoverage;
  export interface ProcessCov {
    result: ScriptCov[];
  }
  /** Sums the counts of several processes' coverage, script by script. */
  export function mergeProcessCovs(processCovs: readonly ProcessCov[]): ProcessCov;
}
