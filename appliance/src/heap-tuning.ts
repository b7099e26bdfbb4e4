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
