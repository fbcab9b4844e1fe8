/**
 * Agent Lanes needs a POSIX system (process groups, signals, /proc or ps, bubblewrap). On
 * Windows both faces refuse with this one line rather than half-work.
 */
export const WINDOWS_REFUSAL = 'Agent Lanes needs Linux or macOS; on Windows, run it inside WSL (https://learn.microsoft.com/windows/wsl/)';

/** Why Agent Lanes cannot run on `platform`, or undefined when it can. */
export function unsupportedPlatform(platform: string = process.platform): string | undefined {
  return platform === 'win32' ? WINDOWS_REFUSAL : undefined;
}
