/**
 * Lane ids become branch names (`lanes/<run>/<id>`) and folder names, so they must be safe for
 * both: git's check-ref-format rules, no path tricks, and portable to case-insensitive and
 * Windows file systems. A rejected id never reaches git or the file system.
 */

export const LANE_ID_MAX_LENGTH = 64;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/** The rule `id` breaks, in words a person can act on, or undefined when it is safe. */
export function laneIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'must not be empty';
  if (id.length > LANE_ID_MAX_LENGTH) return `must be at most ${LANE_ID_MAX_LENGTH} characters (it has ${id.length})`;
  if (id.startsWith('-')) return 'must not start with "-" (it would read as a command-line option)';
  if (id.includes('..')) return 'must not contain ".." (git refuses it in branch names, and it climbs folders)';
  if (id.includes('/') || id.includes('\\')) return 'must not contain "/" or "\\" (one lane is one folder and one branch level)';
  if (id.includes('@{')) return 'must not contain "@{" (git reads it as a reflog reference)';
  if (/\s/.test(id)) return 'must not contain spaces or other whitespace';
  if (id.toLowerCase().endsWith('.lock')) return 'must not end with ".lock" (git reserves it for lock files)';
  if (id.startsWith('.')) return 'must not start with "." (hidden folder, and git refuses it in branch names)';
  if (id.endsWith('.')) return 'must not end with "." (git refuses it in branch names)';
  if (id === '@') return 'must not be "@" (git reads it as HEAD)';
  const bad = /[^A-Za-z0-9._-]/.exec(id);
  if (bad) {
    const ch = bad[0];
    const shown = /[\x00-\x1f\x7f]/.test(ch) ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : ch;
    return `must not contain "${shown}": use letters, digits, ".", "_" and "-" only`;
  }
  if (WINDOWS_RESERVED.test(id)) return `must not be "${id}" (a reserved device name on Windows)`;
  return undefined;
}

export function isSafeLaneId(id: string): boolean {
  return laneIdProblem(id) === undefined;
}

/** A throwing guard for code that is about to use an id as a ref or path component. */
export function assertSafeLaneId(id: string): string {
  const problem = laneIdProblem(id);
  if (problem) throw new Error(`unsafe lane id ${JSON.stringify(id)}: ${problem}`);
  return id;
}
