// CPU time of a process from /proc, for the MSRP benchmarks' "CPU-seconds per 1,000" figures:
// on a shared machine the wall rate moves with whatever else runs, the CPU spent per unit of
// work much less.
import { readFileSync } from 'node:fs';

/** user+system CPU seconds a process has used so far (/proc/PID/stat utime and stime, in clock ticks of 1/100 s). */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}
