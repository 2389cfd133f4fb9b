import type { Aedes, Client } from 'aedes';
import { connectedClient } from './aedes-internals.js';

/**
 * Who is connected to this pod's broker, by client id. Authentication needs the answer (a
 * session takeover looks for the client it replaces) and the broker needs authentication, so
 * the broker is attached once it exists; before that, truthfully, nobody is connected.
 */
export class ConnectedClients {
  private broker: Aedes | undefined;

  attach(broker: Aedes): void {
    this.broker = broker;
  }

  readonly get = (clientId: string): Client | undefined => (this.broker ? connectedClient(this.broker, clientId) : undefined);
}
