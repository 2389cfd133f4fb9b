/** Parent side of a forked helper process driven by typed commands and replies over IPC. */
import { fork, type ChildProcess } from 'node:child_process';

type Message = { type: string };
type Pending<R> = { want: string; resolve: (r: R) => void; reject: (e: Error) => void };

/**
 * One child process (the load generator's workers, the RocketMQ client processes). A reply
 * settles the oldest request waiting for its type; an `error` reply or the child's exit fails
 * every waiting request.
 */
export class Forked<C extends Message, R extends Message> {
  private readonly child: ChildProcess;
  private pending: Pending<R>[] = [];
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    script: string,
    private readonly stopGraceMs: number,
  ) {
    this.child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (r: R) => {
      if (r.type === 'error') {
        const message = (r as unknown as { message?: string }).message;
        for (const p of this.pending.splice(0)) p.reject(new Error(`${name}: ${message}`));
        return;
      }
      const i = this.pending.findIndex((p) => p.want === r.type);
      if (i >= 0) this.pending.splice(i, 1)[0]!.resolve(r);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`${name} exited`));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(cmd: C): void {
    this.child.send(cmd);
  }

  /** Sends `cmd` and waits for the reply of type `want` (for at most `timeoutMs` when given). */
  request<T extends R['type']>(cmd: C, want: T, timeoutMs?: number): Promise<Extract<R, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => reject(new Error(`${this.name}: no ${want} within ${timeoutMs} ms`)), timeoutMs);
      const settle = <A>(f: (a: A) => void) => (a: A) => (clearTimeout(timer), f(a));
      this.pending.push({ want, resolve: settle((r: R) => resolve(r as Extract<R, { type: T }>)), reject: settle(reject) });
      this.send(cmd);
    });
  }

  /** Asks the child to exit with `exitCmd`; kills it when it has not after the grace period. */
  async stopWith(exitCmd: C): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.send(exitCmd);
    const t = setTimeout(() => this.child.kill('SIGKILL'), this.stopGraceMs);
    await this.exited;
    clearTimeout(t);
  }
}
