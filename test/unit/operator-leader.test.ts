import { pino } from 'pino';
import { LeaderElector } from '../../operator/controller/leader.js';
import { ApiError, type KubeRest } from '../../operator/k8s/rest.js';

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
}

/** One Lease in memory; `hang` makes every call wait forever, as an API server that stopped answering. */
function fakeLeaseApi() {
  const state = { lease: undefined as { metadata: { resourceVersion: string }; spec: LeaseSpec } | undefined, hang: false, version: 0 };
  const never = new Promise<never>(() => undefined);
  const answer = <T>(value: () => T): Promise<T> => (state.hang ? never : Promise.resolve().then(value));
  const store = (obj: { spec: LeaseSpec }) => {
    state.lease = { ...obj, metadata: { resourceVersion: String(++state.version) } };
    return state.lease;
  };
  const rest = {
    get: () =>
      answer(() => {
        if (!state.lease) throw new ApiError(404, 'NotFound', 'no lease');
        return state.lease;
      }),
    create: (_path: string, obj: { spec: LeaseSpec }) => answer(() => store(obj)),
    update: (_path: string, obj: { spec: LeaseSpec }) => answer(() => store(obj)),
  } as unknown as KubeRest;
  return { state, rest };
}

const timings = { leaseDurationMs: 3_000, renewDeadlineMs: 500, retryPeriodMs: 100 };
const elector = (rest: KubeRest, identity: string) => new LeaderElector(rest, { namespace: 'ops', name: 'mqbridge-operator', identity, ...timings }, pino({ level: 'silent' }));

test('a leader whose renewals hang gives up at the renew deadline, well before the lease it holds expires', async () => {
  const { state, rest } = fakeLeaseApi();
  const a = elector(rest, 'a');
  let leading!: () => void;
  const started = new Promise<void>((resolve) => (leading = resolve));
  const result = a.run(() => leading());
  await started;
  expect(state.lease?.spec.holderIdentity).toBe('a');
  state.hang = true;
  const hungAt = Date.now();
  expect(await result).toBe('lost');
  expect(a.isLeader).toBe(false);
  // Another replica may take the lease once it expires: this one must have stopped leading by then.
  expect(Date.now() - hungAt).toBeLessThan(timings.leaseDurationMs);
});

test('a candidate does not take a lease another holder renews; it leads once that holder releases it on stop', async () => {
  const { state, rest } = fakeLeaseApi();
  const a = elector(rest, 'a');
  const b = elector(rest, 'b');
  let aLeads!: () => void;
  const aStarted = new Promise<void>((resolve) => (aLeads = resolve));
  const aRun = a.run(() => aLeads());
  await aStarted;
  let bLed = false;
  const bRun = b.run(() => (bLed = true));
  await new Promise((r) => setTimeout(r, 400)); // several of a's renewals and b's tries
  expect(bLed).toBe(false);
  a.stop();
  expect(await aRun).toBe('stopped');
  for (let i = 0; i < 50 && !bLed; i++) await new Promise((r) => setTimeout(r, 50));
  expect(bLed).toBe(true);
  expect(state.lease?.spec.holderIdentity).toBe('b');
  b.stop();
  expect(await bRun).toBe('stopped');
});
