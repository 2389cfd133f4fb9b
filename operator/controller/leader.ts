import type { Logger } from 'pino';
import { isConflict, isNotFound, type KubeRest } from '../k8s/rest.js';
import { RESOURCES, apiVersionOf, resourcePath } from '../k8s/paths.js';

interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

const microTime = (d = new Date()) => d.toISOString().replace('Z', '000Z');

/**
 * Leader election on a coordination.k8s.io Lease, as client-go does it: a candidate takes
 * the lease only when its holder has not renewed it for a whole lease duration, measured on
 * the candidate's own clock from when it last saw the record change (so clock skew between
 * nodes does not matter); the leader renews every retry period and gives up leadership when
 * it could not renew within the renew deadline.
 */
export class LeaderElector {
  private readonly path: string;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private observed: { record: string; at: number } | undefined;
  private stopped = false;
  private leading = false;

  constructor(
    private readonly rest: KubeRest,
    private readonly opts: LeaderElectionOptions,
    private readonly log: Logger,
  ) {
    this.path = resourcePath(RESOURCES.lease, opts.namespace, opts.name);
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Waits until this candidate leads, calls `onStarted`, keeps renewing, and resolves when
   * leadership is lost or `stop()` was called.
   */
  async run(onStarted: () => void): Promise<'lost' | 'stopped'> {
    while (!this.stopped && !(await this.tryAcquireOrRenew())) await sleep(this.retryMs);
    if (this.stopped) return 'stopped';
    this.leading = true;
    this.log.info({ lease: this.opts.name, identity: this.opts.identity }, 'became leader');
    onStarted();
    let lastRenew = Date.now();
    while (!this.stopped) {
      await sleep(this.retryMs);
      if (this.stopped) break;
      // A renew that hangs must not keep this replica leading past its deadline: by then
      // another one may have taken the lease.
      const left = Math.max(0, this.renewDeadlineMs - (Date.now() - lastRenew));
      if (await withinMs(this.tryAcquireOrRenew(), left, false)) lastRenew = Date.now();
      else if (Date.now() - lastRenew >= this.renewDeadlineMs) {
        this.leading = false;
        this.log.error({ lease: this.opts.name }, 'leadership lost: could not renew the lease in time');
        return 'lost';
      }
    }
    await this.release();
    return 'stopped';
  }

  stop(): void {
    this.stopped = true;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    try {
      let lease: Lease | undefined;
      try {
        lease = await this.rest.get<Lease>(this.path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (!lease) {
        await this.rest.create(resourcePath(RESOURCES.lease, this.opts.namespace), this.record(undefined, now), 'mqbridge-operator');
        return true;
      }
      const record = JSON.stringify(lease.spec);
      if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
      const holder = lease.spec.holderIdentity;
      const expired = Date.now() - this.observed.at > (lease.spec.leaseDurationSeconds ?? 15) * 1000;
      if (holder && holder !== this.opts.identity && !expired) return false;
      const next = this.record(lease, now);
      const updated = await this.rest.update<Lease>(this.path, next, 'mqbridge-operator');
      this.observed = { record: JSON.stringify(updated.spec), at: Date.now() };
      return true;
    } catch (err) {
      if (!isConflict(err)) this.log.warn({ err: (err as Error).message }, 'lease acquire/renew failed');
      return false;
    }
  }

  private record(lease: Lease | undefined, now: Date): Lease {
    const mine = lease?.spec.holderIdentity === this.opts.identity;
    return {
      apiVersion: apiVersionOf(RESOURCES.lease),
      kind: 'Lease',
      metadata: { name: this.opts.name, namespace: this.opts.namespace, ...(lease ? { resourceVersion: lease.metadata.resourceVersion } : {}) },
      spec: {
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
        acquireTime: mine && lease?.spec.acquireTime ? lease.spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (lease?.spec.leaseTransitions ?? 0) + (mine || !lease ? 0 : 1),
      },
    };
  }

  /** Lets the next candidate take over at once instead of waiting out the lease. */
  private async release(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.rest.get<Lease>(this.path);
      if (lease.spec.holderIdentity !== this.opts.identity) return;
      await this.rest.update(this.path, { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } }, 'mqbridge-operator');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not release the lease');
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The work's answer, or `late` once `ms` have passed (the work itself runs on). */
function withinMs<T>(work: Promise<T>, ms: number, late: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
