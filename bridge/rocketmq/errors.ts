import {
  BadRequestException,
  ForbiddenException,
  NotFoundException,
  PayloadTooLargeException,
  RequestHeaderFieldsTooLargeException,
  UnauthorizedException,
  UnsupportedException,
} from 'rocketmq-client-nodejs';

const PERMANENT = [
  BadRequestException,
  ForbiddenException,
  NotFoundException,
  PayloadTooLargeException,
  RequestHeaderFieldsTooLargeException,
  UnauthorizedException,
  UnsupportedException,
];

/**
 * A permanent error will fail again however often it is retried (unknown topic, bad
 * request, no permission); anything else (unreachable proxy, timeouts, throttling,
 * internal errors) may pass, so the send is retried.
 */
export function isPermanent(err: unknown): boolean {
  return PERMANENT.some((cls) => err instanceof cls);
}

/**
 * Codes with which the broker answers a send it stored, though not as durably as configured: the
 * flush to disk (SYNC_FLUSH) or the copy to a replica (SYNC_MASTER) took too long, or no replica
 * is there. A retry would store the message a second time, so such a send counts as done (with a
 * warning and a metric): the message is in the master's store.
 */
const STORED_WITH_DEGRADED_DURABILITY = new Map<number, string>([
  [50401, 'flush_timeout'],
  [50402, 'replica_timeout'],
  [50002, 'replica_unavailable'],
]);

/** Why a failed send was stored all the same, or undefined when it was not. */
export function storedDespite(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? STORED_WITH_DEGRADED_DURABILITY.get(code) : undefined;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof NotFoundException;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}
