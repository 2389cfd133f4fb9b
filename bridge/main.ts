#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Bridge } from './bridge.js';
import { ConfigError, loadConfigFile } from './config/load.js';

const USAGE = 'usage: mqbridge-bridge --config <file.yaml> [--kubeconfig <file>]  (the kubeconfig to follow reload.configMap with; default: the pod\'s service account)';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' }, kubeconfig: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return void console.log(USAGE);
  if (!values.config) {
    console.error(USAGE);
    process.exit(2);
  }
  const { config, text } = await loadConfigFile(values.config);
  const bridge = await Bridge.start(config, { configPath: values.config, configText: text, ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}) });

  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) {
      bridge.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    bridge.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), config.shutdown.graceMs + 5_000);
    force.unref();
    bridge.stop().then(
      () => process.exit(0),
      (err: Error) => {
        bridge.log.error({ err: err.message }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // A bug in one connection's handling must not take the other devices down with it.
  process.on('uncaughtException', (err) => {
    bridge.log.error({ err: err.stack }, 'uncaught exception');
    bridge.metrics.errors.inc({ component: 'uncaught' });
  });
  process.on('unhandledRejection', (err) => {
    bridge.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'unhandled rejection');
    bridge.metrics.errors.inc({ component: 'uncaught' });
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
