import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

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
  return execFileSync(process.execPath, ['--trace-pretenuring-statistics', '--input-type=module', '-e', script], { encoding: 'utf8' });
}

describe('tuneHeapForServing', () => {
  it('stops V8 from pretenuring an allocation site whose objects survive scavenges', () => {
    // the workload does make V8 pretenure when the server's setting is not applied
    expect(pretenuringTrace(false)).toMatch(/=> tenure/);
    // with it, V8 no longer looks at allocation sites at all
    expect(pretenuringTrace(true)).not.toMatch(/pretenuring:/);
  });
});
