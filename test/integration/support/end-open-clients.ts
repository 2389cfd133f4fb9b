// Loaded by jest after the environment of every integration and node suite (jest.config.js).
import { endOpenClients } from './open-clients.js';

afterAll(async () => {
  const ended = await endOpenClients();
  if (ended.length > 0) console.warn(`${ended.length} MQTT client(s) this suite left open were ended: ${ended.slice(0, 5).join(', ')}${ended.length > 5 ? ', …' : ''}`);
});
