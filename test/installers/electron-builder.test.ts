import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// The desktop packages (issue: installers, point 7) are built by electron-builder where the
// Electron binary can be downloaded; here we check what it would be given, downloading nothing.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface BuilderConfig {
  appId?: string;
  productName?: string;
  directories?: { app?: string; output?: string };
  files?: string[];
  linux?: { target?: string[] };
  win?: { target?: string[] };
}

describe('desktop console packaging (electron-builder.yml)', () => {
  const config = parse(readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8')) as BuilderConfig;
  const app = path.join(ROOT, config.directories?.app ?? '.');
  const appPackage = JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8')) as { main: string };

  it('targets AppImage and deb for Linux and NSIS for Windows, under one app id', () => {
    expect(config.appId).toBe('org.parley.console');
    expect(config.productName).toBeTruthy();
    expect(config.linux?.target).toEqual(expect.arrayContaining(['AppImage', 'deb']));
    expect(config.win?.target).toEqual(['nsis']);
    expect(config.directories?.output).toBe('release');
  });

  it('packages the built shell (main process, preload, first-run screen) and leaves node_modules out', () => {
    expect(config.files).toEqual(expect.arrayContaining(['package.json', 'dist-shell/**', '!node_modules/**']));
    expect(appPackage.main).toBe('dist-shell/main.js');
  });

  it('the shell builds into the files the config names, with no download', () => {
    // the same build the README's desktop steps run (esbuild only), into the git-ignored dist-shell
    execFileSync(process.execPath, [path.join(app, 'main/build-shell.mjs')], { cwd: app });
    const shell = path.join(app, 'dist-shell');
    for (const f of ['main.js', 'preload.cjs', 'first-run/index.html', 'first-run/strings.js']) expect(existsSync(path.join(shell, f)), f).toBe(true);
    expect(path.join(app, appPackage.main)).toBe(path.join(shell, 'main.js'));
  });

  it('has the npm script that runs electron-builder with this config', () => {
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['package:console']).toMatch(/build:shell/);
    expect(scripts['package:console']).toMatch(/electron-builder.*--config electron-builder\.yml/);
  });
});
