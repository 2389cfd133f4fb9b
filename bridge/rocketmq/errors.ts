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

export function isNotFound(err: unknown): boolean {
  return err instanceof NotFoundException;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}
