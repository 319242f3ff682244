// What the HA test's clients saw (test/ha/client.js prints one record per request)
// and what each switch of the virtual address cost them.

/** One request of one simulated user. */
export interface RequestRecord {
  readonly user: number;
  /** Epoch ms the request started (same clock as the test: same machine). */
  readonly start: number;
  readonly ms: number;
  readonly status?: number;
  /** The server that answered (x-server). */
  readonly server?: string;
  /** The balancer it came through: lb1's or lb2's own address, as the server saw it. */
  readonly via?: string;
  /** The answer set a persistence cookie. */
  readonly setCookie?: boolean;
  /** Why it failed: ECONNREFUSED, ECONNRESET, TIMEOUT... */
  readonly error?: string;
}

/** True for a request record (the client's last line is a summary, not a record). */
export function isRequestRecord(line: Record<string, unknown>): line is Record<string, unknown> & RequestRecord {
  return typeof line.user === 'number' && typeof line.start === 'number';
}

/** A success is a 200 answered by a server; a 5xx from Doorman counts as a failure. */
export function succeeded(record: RequestRecord): boolean {
  return record.error === undefined && record.status === 200 && record.server !== undefined;
}

/** One move of the virtual address, as the test timed it. */
export interface SwitchTimes {
  readonly name: string;
  /** When the cause happened (Doorman stopped or back). */
  readonly from: number;
  /** When the address was on the new node and gone from the old one. */
  readonly movedAt: number;
  /** Start of the next phase: requests from here on belong to it. */
  readonly until: number;
}

/** What one switch cost. */
export interface SwitchReport {
  readonly name: string;
  readonly moveMs: number;
  /** Requests that failed, started between `from` and `until`. */
  readonly failed: number;
  readonly errors: Readonly<Record<string, number>>;
  /** Of those, the ones started after the address had moved: there must be none. */
  readonly failedAfterMove: readonly RequestRecord[];
}

function describeFailure(record: RequestRecord): string {
  return record.error ?? `HTTP ${record.status}`;
}

/** Counts the failures of one switch. */
export function switchReport(records: readonly RequestRecord[], times: SwitchTimes): SwitchReport {
  const failures = records.filter((r) => r.start >= times.from && r.start < times.until && !succeeded(r));
  const errors: Record<string, number> = {};
  for (const r of failures) errors[describeFailure(r)] = (errors[describeFailure(r)] ?? 0) + 1;
  return {
    name: times.name,
    moveMs: times.movedAt - times.from,
    failed: failures.length,
    errors,
    failedAfterMove: failures.filter((r) => r.start >= times.movedAt),
  };
}

/** Each user's servers over its successful requests: one each when persistence held. */
export function serversByUser(records: readonly RequestRecord[]): Map<number, Set<string>> {
  const byUser = new Map<number, Set<string>>();
  for (const r of records.filter(succeeded)) {
    const servers = byUser.get(r.user) ?? new Set<string>();
    servers.add(r.server!);
    byUser.set(r.user, servers);
  }
  return byUser;
}

/** One line per switch for the test's report. */
export function formatSwitch(report: SwitchReport): string {
  const errors = Object.entries(report.errors)
    .map(([error, count]) => `${error} ${count}`)
    .join(', ');
  const failed = `${report.failed} request${report.failed === 1 ? '' : 's'} failed${errors ? ` (${errors})` : ''}`;
  return `${report.name}: address moved in ${report.moveMs} ms; ${failed}, ${report.failedAfterMove.length} after the move`;
}
