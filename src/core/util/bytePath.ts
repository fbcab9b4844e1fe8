/**
 * File names as git stores them: bytes, not necessarily UTF-8. A name is carried through our
 * code as a string that round-trips exactly: valid UTF-8 decodes as itself, and every byte that
 * is not part of valid UTF-8 becomes a lone surrogate U+DC80–U+DCFF (Python's
 * "surrogateescape"). No real name contains a lone surrogate (it has no UTF-8 form), so nothing
 * collides; JSON keeps them (as \udcXX escapes). Such strings go to the file system as Buffers
 * and to git on stdin (NUL-separated, literal pathspecs), never in argv, which Node would
 * re-encode.
 */

/** Bytes → a name string (lossless). */
export function decodePath(buf: Uint8Array): string {
  let out = '';
  let i = 0;
  const n = buf.length;
  while (i < n) {
    const b = buf[i]!;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    // The length and the valid range of the second byte, per the UTF-8 definition (RFC 3629).
    let len = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) len = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    }
    let ok = len > 0 && i + len <= n;
    for (let k = 1; ok && k < len; k++) {
      const c = buf[i + k]!;
      ok = k === 1 ? c >= lo && c <= hi : c >= 0x80 && c <= 0xbf;
    }
    if (ok) {
      out += Buffer.from(buf.subarray(i, i + len)).toString('utf8');
      i += len;
    } else {
      out += String.fromCharCode(0xdc00 + b);
      i++;
    }
  }
  return out;
}

/** A name string → its bytes (the inverse of decodePath). */
export function encodePath(s: string): Buffer {
  if (!/[\udc80-\udcff]/.test(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A lone low surrogate (not preceded by a high one) in the escape range is a raw byte.
    const prevHigh = i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
    if (c >= 0xdc80 && c <= 0xdcff && !prevHigh) {
      if (run) parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.from([c - 0xdc00]));
    } else run += s[i];
  }
  if (run) parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

/** Whether a name can be passed to git in argv as it is (valid UTF-8, no escapes). */
export function isPlainPath(s: string): boolean {
  return !/[\udc80-\udcff]/.test(s);
}

/** A name for people: raw bytes shown as \xNN. */
export function displayPath(s: string): string {
  return s.replace(/[\udc80-\udcff]/g, (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16)}`);
}

/** Split git's -z output into names. */
export function splitNul(buf: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0) {
      if (i > start) out.push(decodePath(buf.subarray(start, i)));
      start = i + 1;
    }
  }
  if (start < buf.length) out.push(decodePath(buf.subarray(start)));
  return out;
}

/** Names as NUL-terminated bytes, for git's --pathspec-file-nul / -z --stdin. */
export function joinNul(paths: readonly string[]): Buffer {
  return Buffer.concat(paths.flatMap((p) => [encodePath(p), Buffer.from([0])]));
}
