import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigError } from '../../bridge/config/load.js';
import type { BridgeConfig } from '../../bridge/config/schema.js';
import { configHash } from '../../bridge/config/report.js';
import { ConfigWatcher } from '../../bridge/config/watch.js';

/** The hour-long poll leaves the directory watch as the only way a change can be noticed. */
const NEVER_POLL = 3_600_000;

interface Seen {
  configs: BridgeConfig[];
  invalid: ConfigError[];
}

function follow(path: string, firstText: string, pollMs = NEVER_POLL): { watcher: ConfigWatcher; seen: Seen } {
  const seen: Seen = { configs: [], invalid: [] };
  const watcher = new ConfigWatcher(path, configHash(firstText), pollMs, {
    onChange: (c) => void seen.configs.push(c),
    onInvalid: (e) => void seen.invalid.push(e),
  });
  watcher.start();
  return { watcher, seen };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

const text = (port: number) => `http: {port: ${port}}\n`;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mqbridge-watch-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('config watcher', () => {
  test('a file renamed over the config is picked up without waiting for the poll', async () => {
    const path = join(dir, 'bridge.yaml');
    await writeFile(path, text(9001));
    const { watcher, seen } = follow(path, text(9001));
    try {
      await writeFile(`${path}.tmp`, text(9002));
      await rename(`${path}.tmp`, path);
      await until('reload', () => seen.configs.length === 1);
      expect(seen.configs[0]!.http.port).toBe(9002);
    } finally {
      watcher.stop();
    }
  });

  test('a ConfigMap-style swap of the ..data symlink is picked up', async () => {
    // The kubelet's layout: config -> ..data/config, ..data -> ..<timestamp>/, swapped by rename.
    const path = join(dir, 'bridge.yaml');
    await mkdir(join(dir, '..v1'));
    await writeFile(join(dir, '..v1', 'bridge.yaml'), text(9001));
    await symlink('..v1', join(dir, '..data'));
    await symlink(join('..data', 'bridge.yaml'), path);
    const { watcher, seen } = follow(path, text(9001));
    try {
      await mkdir(join(dir, '..v2'));
      await writeFile(join(dir, '..v2', 'bridge.yaml'), text(9003));
      await symlink('..v2', join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      await rm(join(dir, '..v1'), { recursive: true });
      await until('reload', () => seen.configs.length === 1);
      expect(seen.configs[0]!.http.port).toBe(9003);
    } finally {
      watcher.stop();
    }
  });

  test('a file written all the time beside the config (a log) neither hides nor holds back a change', async () => {
    const path = join(dir, 'bridge.yaml');
    await writeFile(path, text(9001));
    const { watcher, seen } = follow(path, text(9001));
    let writing = true;
    const logWriter = (async () => {
      for (let i = 0; writing; i++) {
        await writeFile(join(dir, 'bridge.log'), `line ${i}\n`, { flag: 'a' });
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 50));
      await writeFile(`${path}.tmp`, text(9007));
      await rename(`${path}.tmp`, path);
      await until('reload while the log is written', () => seen.configs.length === 1);
      expect(seen.configs[0]!.http.port).toBe(9007);
    } finally {
      writing = false;
      await logWriter;
      watcher.stop();
    }
  });

  test('an invalid file is reported once and a later valid one still loads', async () => {
    const path = join(dir, 'bridge.yaml');
    await writeFile(path, text(9001));
    const { watcher, seen } = follow(path, text(9001));
    try {
      await writeFile(path, 'http: {port: 70000}\n');
      await until('invalid reported', () => seen.invalid.length === 1);
      expect(seen.invalid[0]!.problems.join()).toContain('http.port');
      await writeFile(path, text(9004));
      await until('reload', () => seen.configs.length === 1);
      expect(seen.configs[0]!.http.port).toBe(9004);
      expect(seen.invalid).toHaveLength(1);
    } finally {
      watcher.stop();
    }
  });

  test('an unchanged file, touched, is not reloaded; the poll still notices real changes', async () => {
    const path = join(dir, 'bridge.yaml');
    await writeFile(path, text(9001));
    const { watcher, seen } = follow(path, text(9001), 50);
    try {
      await writeFile(path, text(9001));
      await new Promise((r) => setTimeout(r, 200));
      expect(seen.configs).toHaveLength(0);
      await watcher.check(); // what the poll runs, called directly
      expect(seen.configs).toHaveLength(0);
      await writeFile(path, text(9005));
      await until('reload', () => seen.configs.length === 1);
    } finally {
      watcher.stop();
    }
  });

  test('a directory that cannot be watched leaves polling in charge', async () => {
    const path = join(dir, 'missing', 'bridge.yaml');
    const errors: Error[] = [];
    const seen: BridgeConfig[] = [];
    const watcher = new ConfigWatcher(path, configHash(''), 50, {
      onChange: (c) => void seen.push(c),
      onInvalid: () => undefined,
      onWatchError: (e) => void errors.push(e),
    });
    watcher.start();
    try {
      expect(errors).toHaveLength(1);
      await mkdir(join(dir, 'missing'));
      await writeFile(path, text(9006));
      await until('reload by polling', () => seen.length === 1);
    } finally {
      watcher.stop();
    }
  });
});
