import type { NonceStore } from '../auth/nonces.js';
import type { RedisClient } from './connection.js';

/** Token API nonces shared by the pods: `SET NX` with the window as expiry. */
export class RedisNonces implements NonceStore {
  constructor(private readonly db: RedisClient) {}

  async firstUse(accessKeyId: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    return (await this.db.set(`api-nonce:${accessKeyId}:${nonce}`, '1', 'EX', ttlSeconds, 'NX')) === 'OK';
  }
}
