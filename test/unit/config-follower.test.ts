import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ConfigFollower, takesText } from '../../bridge/config/follower.js';
import type { BridgeConfig } from '../../bridge/config/schema.js';

describe('takesText: which config text replaces the one in force', () => {
  const once = new Set(['A', 'B']);
  test.each<[string, 'file' | 'configmap', string, boolean, boolean]>([
    ['the text in force again, from the API', 'configmap', 'C', true, false],
    ['the text in force again, from the file', 'file', 'C', true, false],
    ['a new text from the API', 'configmap', 'D', true, true],
    ['a revert from the API (a text once in force)', 'configmap', 'A', true, true],
    ['a stale text from the file while the API is followed', 'file', 'B', true, false],
    ['a never-seen text from the file while the API is followed (a missed event)', 'file', 'D', true, true],
    ['a revert from the file when only the file is followed', 'file', 'A', false, true],
    ['a new text from the file when only the file is followed', 'file', 'D', false, true],
  ])('%s', (_name, source, hash, following, want) => {
    expect(takesText(source, hash, 'C', once, following)).toBe(want);
  });
});

describe('ConfigFollower: the reload section of each config put in force', () => {
  const yaml = (lines: string[]) => `${lines.join('\n')}\n`;
  const binding = (parent: string) => `bindings: [{mqttParentTopic: ${parent}, rocketmqTopic: T, direction: MqttToRocketmq}]`;
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mqbridge-follow-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function follower(path: string, reload: BridgeConfig['reload'], kubeConfig: () => KubeConfig | undefined = () => undefined) {
    const applied: BridgeConfig[] = [];
    const sourceUp: boolean[] = [];
    const f = new ConfigFollower({
      path,
      initialText: '',
      reload,
      kubeConfig,
      apply: async (c) => void applied.push(c),
      onResult: () => undefined,
      onSourceUp: (up) => void sourceUp.push(up),
      log: pino({ level: 'silent' }),
    });
    return { f, applied, sourceUp };
  }

  test('reload.pollMs: the poll runs at the interval of the config in force', async () => {
    // A directory that does not exist yet cannot be watched: polling alone notices changes.
    const path = join(dir, 'later', 'bridge.yaml');
    const { f, applied } = follower(path, { pollMs: 50 });
    f.start();
    try {
      await mkdir(join(dir, 'later'));
      await writeFile(path, yaml([binding('alpha'), 'reload: {pollMs: 3600000}']));
      await until('the first config', () => applied.length === 1);
      await writeFile(path, yaml([binding('bravo'), 'reload: {pollMs: 3600000}']));
      await new Promise((r) => setTimeout(r, 400)); // eight polls at the old interval
      expect(applied.map((c) => c.bindings[0]!.mqttParentTopic)).toEqual(['alpha']);
    } finally {
      f.stop();
    }
  });

  test('reload.configMap: a config naming another ConfigMap is followed from then on; one naming none stops the watch', async () => {
    const path = join(dir, 'bridge.yaml');
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const { f, sourceUp } = follower(path, { pollMs: 20, configMap: { namespace: 'ns', name: 'one', key: 'bridge.yaml' } }, () => kc);
    f.start();
    try {
      expect(f.configMap?.name).toBe('one');
      await writeFile(path, yaml([binding('alpha'), 'reload: {configMap: {namespace: ns, name: two}}']));
      await until('the second ConfigMap', () => f.configMap?.name === 'two');
      await writeFile(path, yaml([binding('bravo')]));
      await until('no ConfigMap', () => f.configMap === undefined);
      expect(sourceUp.at(-1)).toBe(false);
    } finally {
      f.stop();
    }
  });

  test('reload.configMap without API credentials: the file only', () => {
    const { f } = follower(join(dir, 'bridge.yaml'), { pollMs: 1000, configMap: { namespace: 'ns', name: 'one', key: 'bridge.yaml' } });
    expect(f.configMap).toBeUndefined();
  });
});

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}
