// vitest's v8 coverage provider, plus the coverage of the `node dist/lb.js` processes the
// integration tests start (and the cluster workers those fork). vitest only sees code that
// runs in its own workers; each child instead writes V8's raw coverage into CHILD_DIR
// (NODE_V8_COVERAGE, which test/coverage/child-env.ts sets in each test worker) when it exits, and the
// report merges it in, mapped from dist/*.js back to src/*.ts through tsc's source maps.
// A child killed with SIGKILL writes nothing, or half a file: its coverage is lost, never invented.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mergeProcessCovs, type ProcessCov, type ScriptCov } from '@bcoe/v8-coverage';
import v8 from '@vitest/coverage-v8';
import convert from 'ast-v8-to-istanbul';
import type { CoverageMap, CoverageMapData } from 'istanbul-lib-coverage';
import { parse } from 'vite';
import type { CoverageProviderModule } from 'vitest/node';

const ROOT = new URL('../../', import.meta.url);
const DIST = new URL('dist/', ROOT).href;
/** Inside coverage/, which vitest empties at the start of each run. */
const CHILD_DIR = fileURLToPath(new URL('coverage/.children/', ROOT));

/** How long a child's coverage file may stay incomplete: a child still exiting is writing it. */
const INCOMPLETE_DEADLINE_MS = 5_000;

/**
 * The compiled modules of Doorman in one child's raw coverage file; null when the file
 * never completes (a child killed while writing it: V8 writes it in place, not atomically).
 */
async function distScripts(file: string): Promise<ScriptCov[] | null> {
  const deadline = Date.now() + INCOMPLETE_DEADLINE_MS;
  for (;;) {
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as ProcessCov;
      return raw.result.filter((script) => script.url.startsWith(DIST) && script.url.endsWith('.js'));
    } catch (err) {
      if (!(err instanceof SyntaxError) || Date.now() > deadline) return null;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

interface SourceMap {
  version: number;
  sources: string[];
  mappings: string;
  names: string[];
}

/** Every child's coverage, merged per script and mapped to src/. Empty when no child wrote any. */
async function childCoverage(): Promise<{ map: CoverageMapData[]; processes: number; incomplete: number }> {
  let files: string[];
  try {
    files = readdirSync(CHILD_DIR).filter((name) => name.endsWith('.json'));
  } catch {
    return { map: [], processes: 0, incomplete: 0 };
  }
  const scripts = await Promise.all(files.map((name) => distScripts(CHILD_DIR + name)));
  const complete = scripts.filter((result): result is ScriptCov[] => result !== null);
  const merged = mergeProcessCovs(complete.map((result) => ({ result })));
  const maps = await Promise.all(
    merged.result.map(async (script) => {
      const jsFile = fileURLToPath(script.url);
      const code = readFileSync(jsFile, 'utf8');
      const sourceMap = JSON.parse(readFileSync(`${jsFile}.map`, 'utf8')) as SourceMap;
      // Absolute sources, as vitest's own conversion makes them.
      sourceMap.sources = sourceMap.sources.map((source) => new URL(source, script.url).href);
      return convert({
        code,
        sourceMap,
        ast: parse(jsFile, code).then((result) => result.program),
        coverage: { url: script.url, functions: script.functions },
      });
    }),
  );
  rmSync(CHILD_DIR, { recursive: true, force: true });
  return { map: maps, processes: complete.length, incomplete: files.length - complete.length };
}

const provider: CoverageProviderModule = {
  ...v8,
  // Runs in vitest's main process when coverage is on, before it forks the test workers:
  // they inherit the variable, and test/coverage/child-env.ts hands it to their children.
  async getProvider() {
    process.env.DOORMAN_CHILD_COVERAGE = CHILD_DIR;
    const base = await v8.getProvider();
    const generate = base.generateCoverage.bind(base);
    base.generateCoverage = async (context) => {
      const map = (await generate(context)) as CoverageMap;
      const inProcess = map.getCoverageSummary().lines.pct;
      const children = await childCoverage();
      // Only files vitest reports (src/, per coverage.include) are merged in.
      const reported = new Set(map.files());
      for (const data of children.map) {
        for (const [file, fileCoverage] of Object.entries(data)) {
          if (reported.has(file)) map.merge({ [file]: fileCoverage });
        }
      }
      console.log(
        `coverage: lines ${inProcess}% from the test processes alone, ${map.getCoverageSummary().lines.pct}% with ${children.processes} child processes` +
          (children.incomplete > 0 ? ` (${children.incomplete} left out: their coverage file stayed incomplete)` : ''),
      );
      return map;
    };
    return base;
  },
};

export default provider;
