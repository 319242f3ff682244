// What looks wrong after one run, in words: client-side errors and non-2xx, a proxy
// that died or exited badly, and for Doorman what its own log and admin API say.

/** Doorman's log lines of a normal start and stop. */
const ROUTINE_LINES = new Set(['listening', 'admin listening', 'shutting down', 'stopped']);

/** Problems seen in one run; `facts` holds the contender's post-run findings. */
export function findAnomalies({ contender, scenario, result, facts, connections }) {
  const out = [];
  if (result) {
    const errors = result.errors + result.timeouts;
    if (errors > 0) {
      const kinds = result.errorKinds ? ` ${JSON.stringify(result.errorKinds)}` : '';
      out.push(`${errors} client errors (${result.errors} errors, ${result.timeouts} timeouts)${kinds}`);
    }
    if (result.non2xx > 0) out.push(`${result.non2xx} non-2xx responses ${JSON.stringify(result.statusCodes ?? {})}`);
    if (result.memory) {
      const m = result.memory;
      if (m.idleOpened < m.idleConnections)
        out.push(`only ${m.idleOpened}/${m.idleConnections} idle connections opened ${JSON.stringify(m.idleFailures)}`);
      if (m.idleStillOpen < m.idleOpened) out.push(`${m.idleOpened - m.idleStillOpen} idle connections closed by the proxy within 2 s`);
    }
  }
  if (facts.crashed) out.push(`process exited during the run: ${JSON.stringify(facts.crashed)} ${facts.stderrTail ?? ''}`);
  // HAProxy in the foreground (-db) dies of SIGTERM by design; the others exit 0.
  const killedBySigterm = facts.stopExit?.signal === 'SIGTERM' || facts.stopExit?.code === 143;
  if (facts.stopExit && facts.stopExit.code !== 0 && !(contender === 'haproxy' && killedBySigterm)) {
    out.push(`exit after SIGTERM: ${JSON.stringify(facts.stopExit)}`);
  }
  if (facts.statesAfter) {
    const notUp = Object.entries(facts.statesAfter).filter(([, s]) => s !== 'UP');
    if (notUp.length) out.push(`servers not UP after the run: ${JSON.stringify(Object.fromEntries(notUp))}`);
  }
  const log = facts.log;
  if (log) {
    const problems = Object.entries(log.problems);
    if (problems.length) out.push(`log lines at warn+: ${problems.map(([k, n]) => `${n}× ${k}`).join('; ')}`);
    // autocannon destroys its connections when a run ends: up to one in-flight request
    // per connection, for the warm-up and the measured run, ends as client-aborted.
    const expectedAborts = 2 * connections + 5;
    const aborted = log.termination['client-aborted'] ?? 0;
    const bad = Object.entries(log.status).filter(
      ([code, n]) => !code.startsWith('2') && !(code === '0' && n <= aborted && aborted <= expectedAborts),
    );
    if (bad.length) out.push(`access log non-2xx: ${JSON.stringify(Object.fromEntries(bad))}`);
    const terms = Object.entries(log.termination).filter(([t]) => t !== 'normal' && !(t === 'client-aborted' && aborted <= expectedAborts));
    if (terms.length) out.push(`access log terminations other than normal: ${JSON.stringify(Object.fromEntries(terms))}`);
    const unexpected = Object.entries(log.other).filter(([k]) => !ROUTINE_LINES.has(k));
    if (unexpected.length) out.push(`other log lines: ${unexpected.map(([k, n]) => `${n}× ${k}`).join('; ')}`);
    if (log.unparsed) out.push(`${log.unparsed} log lines are not JSON`);
    if (scenario === 'sticky' && log.access > 0) {
      const valid = log.cookieIn.V ?? 0;
      // Only the probe comes without the cookie.
      if (valid < log.access - 5)
        out.push(`sticky: only ${valid}/${log.access} requests had a valid cookie (cookieIn ${JSON.stringify(log.cookieIn)})`);
    }
  }
  if (facts.stderr?.trim() && (contender !== 'haproxy' || /\[(ALERT|WARNING)\]/.test(facts.stderr)))
    out.push(`stderr: ${facts.stderr.trim().split('\n').slice(0, 3).join(' / ')}`);
  return out;
}
