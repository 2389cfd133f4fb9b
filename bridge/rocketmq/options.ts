import type { BaseClientOptions } from 'rocketmq-client-nodejs';
import type { BridgeConfig } from '../config/schema.js';
import { rocketmqClientLogger, type Logger } from '../observability/log.js';

/**
 * Client options shared by the producer and the consumers. Credentials come from the
 * environment (a mounted Secret), never from the config file, which lives in a ConfigMap.
 */
export function clientOptions(cfg: BridgeConfig['rocketmq'], log: Logger, env = process.env): BaseClientOptions {
  const accessKey = env.ROCKETMQ_ACCESS_KEY;
  const accessSecret = env.ROCKETMQ_SECRET_KEY;
  return {
    endpoints: cfg.endpoints,
    namespace: cfg.namespace,
    sslEnabled: cfg.sslEnabled,
    requestTimeout: cfg.requestTimeoutMs,
    logger: rocketmqClientLogger(log),
    ...(accessKey && accessSecret ? { sessionCredentials: { accessKey, accessSecret } } : {}),
  };
}
