import type { MqttClient } from 'mqtt';

/**
 * Every MQTT client a test has opened and not ended. A failed expectation skips the end() that
 * follows it; a client that reconnects then outlives its suite, and its next reconnect runs in a
 * torn-down module registry and throws into whichever suite runs next, failing every later suite
 * with an error that names none of them. end-open-clients.ts ends what a suite left open.
 */
const open = new Set<MqttClient>();

export function trackClient(client: MqttClient): MqttClient {
  open.add(client);
  client.once('end', () => open.delete(client));
  return client;
}

/** Ends (forcibly) every tracked client; resolves with the client ids it ended. */
export async function endOpenClients(): Promise<string[]> {
  const left = [...open];
  open.clear();
  await Promise.all(left.map((c) => c.endAsync(true).catch(() => undefined)));
  return left.map((c) => c.options.clientId ?? '?');
}
