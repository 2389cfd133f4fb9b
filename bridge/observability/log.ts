import { format } from 'node:util';
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'mqbridge'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/**
 * The RocketMQ client logs printf-style and would otherwise write its own log files under
 * the home directory (read-only in a pod). Its routine chatter goes to debug.
 */
export function rocketmqClientLogger(log: Logger) {
  const child = log.child({ component: 'rocketmq-client' });
  return {
    info: (...args: unknown[]) => child.debug(format(...args)),
    debug: (...args: unknown[]) => child.trace(format(...args)),
    warn: (...args: unknown[]) => child.warn(format(...args)),
    error: (...args: unknown[]) => child.error(format(...args)),
    close: () => undefined,
  };
}
