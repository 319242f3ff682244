// HAProxy's `option httplog` line as its configuration manual (section 8.2.3) lays it
// out, as a regex with one named group per field: what a log parser built for HAProxy
// expects (captured headers left out: Doorman captures none).
export const HTTPLOG_LINE = new RegExp(
  [
    /^(?<clientIp>[\da-fA-F.:]+):(?<clientPort>\d+)/,
    / \[(?<acceptDate>\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3})\]/,
    / (?<frontend>[^\s~]+)(?<tls>~)?/,
    / (?<backend>\S+)\/(?<server>\S+)/,
    / (?<TR>-?\d+)\/(?<Tw>-?\d+)\/(?<Tc>-?\d+)\/(?<Tr>-?\d+)\/(?<Ta>\+?\d+)/,
    / (?<status>-?\d+) (?<bytes>\+?\d+)/,
    / (?<capturedRequestCookie>\S+) (?<capturedResponseCookie>\S+)/,
    / (?<termination>[-CcSsPRIDKUL][-RQCHDLT][-NIDVEO][-NIPRDU])/,
    / (?<actconn>\d+)\/(?<feconn>\d+)\/(?<beconn>\d+)\/(?<srvConn>\d+)\/(?<retries>\+?\d+)/,
    / (?<srvQueue>\d+)\/(?<backendQueue>\d+)/,
    / "(?<method>[A-Z]+) (?<uri>[^"\s]*) (?<version>HTTP\/\d\.\d)"$/,
  ]
    .map((part) => part.source)
    .join(''),
);

/** The named fields of an httplog line, or null when it does not parse. */
export function parseHttplog(line: string): Record<string, string> | null {
  const match = HTTPLOG_LINE.exec(line);
  return match ? { ...match.groups } : null;
}
