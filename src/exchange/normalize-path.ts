// The path routes match on (RFC 3986): percent-encoded unreserved characters decoded,
// dot segments removed, so `/api/../admin` or `/%61dmin` cannot slip past a route meant
// for `/admin`. The target sent upstream stays as the client wrote it unless a route
// rewrites it.

const HEX = /^[0-9A-Fa-f]{2}$/;

/** True for ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e
  );
}

/** Decodes %XX of unreserved characters only; other escapes stay, upper-cased. */
function decodeUnreserved(path: string): string {
  if (!path.includes('%')) return path;
  let out = '';
  for (let i = 0; i < path.length; i += 1) {
    const c = path[i]!;
    const hex = path.slice(i + 1, i + 3);
    if (c === '%' && HEX.test(hex)) {
      const code = Number.parseInt(hex, 16);
      out += isUnreserved(code) ? String.fromCharCode(code) : `%${hex.toUpperCase()}`;
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

/** RFC 3986 §5.2.4 remove_dot_segments, for a path starting with `/`. */
function removeDotSegments(path: string): string {
  if (!path.includes('.')) return path;
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i += 1) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '.') {
      if (last) out.push('');
    } else if (segment === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  }
  return `/${out.join('/')}`;
}

/** The normalised path of an origin-form target (the query is left out). */
export function normalizePath(target: string): string {
  const query = target.indexOf('?');
  const path = query < 0 ? target : target.slice(0, query);
  return removeDotSegments(decodeUnreserved(path));
}

/** The query of a target, with its `?`, or ''. */
export function queryOf(target: string): string {
  const query = target.indexOf('?');
  return query < 0 ? '' : target.slice(query);
}
