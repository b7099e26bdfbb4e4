import type { ChildProcess } from 'node:child_process';

/**
 * A client program under test (baresip, linphone-daemon): everything it prints, and bounded
 * waits for a condition on that output or on other state, re-checked whenever something changes.
 */
export class WatchedProcess {
  private text = '';
  private readonly waiters = new Set<() => void>();

  constructor(
    /** for failure messages, e.g. "baresip" */
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const collect = (d: Buffer): void => {
      this.text += d.toString();
      this.wake();
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('exit', () => this.wake());
  }

  /** Everything it printed, stdout and stderr. */
  get output(): string {
    return this.text;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Re-checks the pending waits: call it when state they read changes outside the output. */
  wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when `check` returns a value; fails when the program exits first or after `timeoutMs`. */
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(poll);
      };
      const poll = (): void => {
        const v = check();
        if (v !== undefined) {
          finish();
          resolve(v);
        } else if (this.exited) {
          finish();
          reject(new Error(`${this.name} exited while waiting for ${what}:\n${this.text.slice(-4000)}`));
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(poll);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms:\n${this.text.slice(-4000)}`));
      }, timeoutMs);
      this.waiters.add(poll);
      poll();
    });
  }

  /** Asks it to quit with `quit`, kills it if it lingers 8 s, and resolves once it is gone. */
  async stop(quit: () => void): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    quit();
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 8000);
    await gone;
    clearTimeout(killer);
  }
}
