import v8 from 'node:v8';

/**
 * V8 settings for the long-running server, set at start before any request is served.
 *
 * Allocation-site pretenuring off: V8 moves an allocation site's objects straight to the old
 * generation once enough of them survived a scavenge, and keeps doing so for the process's life.
 * A burst of SIP traffic (a step from idle to thousands of requests a second, or an overload in
 * which requests wait in the queue) makes the per-call objects of our hot path survive for a
 * moment, and V8 then pretenures them: afterwards every call's objects die in the old generation,
 * each is marked and swept there, and scavenges scan the old-to-new pointers. Measured on the relay
 * benchmark (2026-12-01), a process that went through that cost 0.22–0.27 CPU-s per 1,000 relayed
 * MESSAGEs for good instead of ~0.13, and refused 12–30% of a load others carried at 0.65 cores;
 * which processes did was chance (4 of 9 started straight into 5,000/s). With pretenuring off,
 * 6 of 6 kept ~0.13, and goodput at 9,000/s offered stayed at 4,470–5,630/s
 * (test/bench/README.md, "Session 17").
 * V8 reads the flag where it decides (src/heap/pretenuring-handler.cc, ProcessPretenuringFeedback,
 * after each young-generation collection; TurboFan when it compiles an allocation), so setting it
 * now, after start, is in time whatever command line started node. The young generation's floor,
 * which would also help, can only be set on that command line (node refuses it in NODE_OPTIONS).
 */
export function tuneHeapForServing(): void {
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
}

/**
 * What node is started with to serve: every command that starts the appliance puts these on
 * node's command line (package.json's `start`, the systemd unit's ExecStart, /usr/bin/parley,
 * the source tree's `parley` command's first line; a test checks all five command lines), because
 * V8 sizes its heap once, when the process starts, and reads these flags only then.
 *
 * A young generation of up to 64 MB semi-spaces instead of V8's 16 MB (node's documentation of
 * `--max-semi-space-size`: more throughput for more memory). A relayed call allocates ~38 kB,
 * nearly all of it dead once the call is answered; at 5,600 calls/s the 16 MB semi-spaces were
 * collected every ~60 ms, and each collection copies whatever calls are in flight at that moment.
 * Under a 3× flood the guard holds the queue to 20 ms, so a call's objects live that long plus
 * the device's answer; with refusals allocating too, collections came 15–21 times a second,
 * survivors were two to ten times those at 1×, and scavenges took 55–100 ms of every second
 * (217 ms of the first) against 34–43 ms at 1× (test/bench/README.md, "Session 24"). With 64 MB
 * they come a quarter as often and most calls are over before one comes. V8 grows the space to
 * that size only under such a load; the young generation is three semi-spaces (node's
 * documentation), so it may take 192 MB instead of 48 MB.
 */
export const SERVING_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/**
 * The serving flags this process was started without (on its command line or in NODE_OPTIONS,
 * which takes this one), by name: a different value given on purpose counts as given.
 */
export function missingServingFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  // V8 reads `--max-semi-space-size` and `--max_semi_space_size` alike
  const nameOf = (flag: string): string => flag.split('=')[0].replaceAll('_', '-');
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map(nameOf));
  return SERVING_NODE_FLAGS.filter((f) => !given.has(nameOf(f)));
}
