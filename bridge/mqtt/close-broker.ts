import type { Aedes } from 'aedes';

/**
 * Closes aedes and waits, up to `waitMs`, for every registered client to be gone. `close` skips
 * a client that is already closing (a device that just sent DISCONNECT), and such a client's
 * last writes come after its unsubscriptions: deleting its will and its presence record. Were
 * the session store closed before them, the will would stay in Redis, and another pod's sweep
 * of dead pods' wills would publish it though the device said goodbye.
 */
export async function closeBroker(aedes: Aedes, waitMs: number): Promise<void> {
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
  await untilNoClients(aedes, waitMs);
}

function untilNoClients(aedes: Aedes, waitMs: number): Promise<void> {
  if (aedes.connectedClients <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, waitMs);
    const check = () => {
      if (aedes.connectedClients <= 0) done();
    };
    aedes.on('clientDisconnect', check);
    function done() {
      clearTimeout(timer);
      aedes.off('clientDisconnect', check);
      resolve();
    }
  });
}
