import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseApplianceUrl } from './appliance-url.js';

/** What the shell remembers between runs. */
export interface ShellConfig {
  /** the appliance's origin, e.g. http://parley.example.test:8080; null until the first run is done */
  applianceUrl: string | null;
}

export interface ConfigSources {
  /** the file in the user's data folder (Electron's app.getPath('userData')) */
  file: string;
  /** --appliance-url=… on the command line */
  argv: readonly string[];
  /** PARLEY_APPLIANCE_URL */
  env: Readonly<Record<string, string | undefined>>;
}

const PACKAGED_DEFAULTS: ShellConfig = { applianceUrl: null };

/**
 * The shell's configuration, read once at start (STYLE.md: packaged defaults, then the local
 * file, then a flag or the environment). A value that fails the URL check is ignored, so a
 * broken file brings back the first-run screen rather than a window on a wrong address.
 */
export function loadShellConfig(src: ConfigSources): ShellConfig & { fromOverride: boolean } {
  let config: ShellConfig = { ...PACKAGED_DEFAULTS };
  try {
    const saved = JSON.parse(readFileSync(src.file, 'utf8')) as Partial<ShellConfig>;
    const check = parseApplianceUrl(saved.applianceUrl);
    if (check.ok) config = { applianceUrl: check.origin };
  } catch {
    // no file yet (first run), or not JSON: the defaults stand
  }
  const flag = src.argv.find((a) => a.startsWith('--appliance-url='))?.slice('--appliance-url='.length);
  const override = flag ?? src.env.PARLEY_APPLIANCE_URL;
  if (override !== undefined) {
    const check = parseApplianceUrl(override);
    if (check.ok) return { applianceUrl: check.origin, fromOverride: true };
  }
  return { ...config, fromOverride: false };
}

/** Remembers the appliance (the first-run screen's answer) in the local file. */
export function saveShellConfig(file: string, config: ShellConfig): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
}
