// Reading a config the way start, `--check` and every reload do: parse, validate,
// apply command-line overrides, and read each certificate, key and CA it names.
import { ConfigError } from '../errors.js';
import { checkConfigFiles } from './check.js';
import { applyOverrides, loadConfig, type ConfigOverrides } from './load.js';
import type { Config } from './types.js';

/** The config in `file`, or every problem found as `path.to.key: message`. */
export type ReadResult =
  { readonly config: Config; readonly problems?: undefined } | { readonly config?: undefined; readonly problems: readonly string[] };

/** Reads and checks `file`; `checkFiles` also reads every certificate and key. Never throws a ConfigError. */
export async function readConfig(file: string, overrides: ConfigOverrides, checkFiles: boolean): Promise<ReadResult> {
  try {
    const loaded = await loadConfig(file);
    const config = overrides.workers === undefined ? loaded : applyOverrides(loaded, overrides);
    const problems = checkFiles ? await checkConfigFiles(config) : [];
    return problems.length > 0 ? { problems } : { config };
  } catch (err) {
    if (err instanceof ConfigError) return { problems: err.problems };
    throw err;
  }
}
