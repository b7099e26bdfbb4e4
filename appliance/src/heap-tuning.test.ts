import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { missingServingFlags, SERVING_NODE_FLAGS } from './heap-tuning.js';

const built = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/heap-tuning.js')).href;

/**
 * A child Node process that makes objects from one allocation site which outlive a few
 * scavenges (what V8 pretenures), with V8 printing its pretenuring decisions; `tuned` calls
 * tuneHeapForServing first, as `parley start` does. Returns what V8 printed.
 */
function pretenuringTrace(tuned: boolean): string {
  const script = `
    ${tuned ? `(await import(${JSON.stringify(built)})).tuneHeapForServing();` : ''}
    const keep = [];
    const make = (i) => ({ a: i, b: [i], c: 'x' + i });
    for (let round = 0; round < 12; round++)
      for (let i = 0; i < 200000; i++) { keep.push(make(i)); if (keep.length > 300000) keep.splice(0, 100000); }
  `;
  // young generation held small, so that scavenges come often whatever size V8 would grow it to:
  // with its default it once grew large enough for only two, too few for a decision to tenure
  return execFileSync(process.execPath, ['--trace-pretenuring-statistics', '--max-semi-space-size=1', '--input-type=module', '-e', script], { encoding: 'utf8' });
}

describe('tuneHeapForServing', () => {
  it('stops V8 from pretenuring an allocation site whose objects survive scavenges', () => {
    // the workload does make V8 pretenure when the server's setting is not applied
    expect(pretenuringTrace(false)).toMatch(/=> tenure/);
    // with it, V8 no longer looks at allocation sites at all
    expect(pretenuringTrace(true)).not.toMatch(/pretenuring:/);
  });
});

describe('the serving process’s node flags', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

  it('are on every command line that starts the appliance: npm start, the systemd unit, the Debian and source `parley` commands', () => {
    const commands = [
      JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).scripts.start as string,
      /^ExecStart=(.*)$/m.exec(readFileSync(path.join(root, 'installers/debian/parley.service'), 'utf8'))![1],
      ...readFileSync(path.join(root, 'installers/debian/parley.sh'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('cli.js')),
      readFileSync(path.join(root, 'appliance/bin/parley.js'), 'utf8').split('\n')[0],
    ];
    expect(commands).toHaveLength(5);
    for (const command of commands) {
      // the flags go to node, so they stand between it and the script it runs
      const between = /\bnode\b(.*?)(?:\S*cli\.js|$)/.exec(command);
      expect(between, command).not.toBeNull();
      expect(missingServingFlags(between![1].trim().split(/\s+/), ''), command).toEqual([]);
    }
  });

  it('are found on the command line or in NODE_OPTIONS, by name, in either spelling', () => {
    expect(missingServingFlags([], '')).toEqual([...SERVING_NODE_FLAGS]);
    expect(missingServingFlags(['--max-semi-space-size=64'], '')).toEqual([]);
    expect(missingServingFlags([], '--trace-warnings --max-semi-space-size=32')).toEqual([]);
    expect(missingServingFlags(['--max_semi_space_size=128'], '')).toEqual([]);
    expect(missingServingFlags(['--max-old-space-size=4096'], '--inspect')).toEqual([...SERVING_NODE_FLAGS]);
  });

  it('let the young generation grow past V8’s default under a load whose objects live a moment', () => {
    // objects that survive one young collection and die soon after: V8 grows the young
    // generation up to its limit under such a load (what a flood of calls in flight is)
    const script = `
      const v8 = await import('node:v8');
      const ring = new Array(150000);
      let most = 0;
      for (let i = 0; i < 3000000; i++) {
        ring[i % ring.length] = { i, s: 'x' + i, a: [i, i] };
        if (i % 50000 === 0) most = Math.max(most, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);
      }
      console.log(most);
    `;
    const youngBytes = (flags: readonly string[]): number => Number(execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
    const untuned = youngBytes([]);
    const tuned = youngBytes(SERVING_NODE_FLAGS);
    expect(tuned).toBeGreaterThan(2 * untuned);
  });
});
