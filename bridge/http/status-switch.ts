import type { ConfigReport } from '../config/report.js';
import type { HttpStatusSources, Readiness } from './server.js';

/**
 * What /readyz and /configz answer. The HTTP server starts first (liveness must pass while the
 * bridge waits for its session store), so until the bridge is assembled they answer for a
 * starting bridge; then the bridge answers itself.
 */
export class StatusSwitch implements HttpStatusSources {
  private sources: HttpStatusSources;

  constructor(starting: HttpStatusSources) {
    this.sources = starting;
  }

  serve(running: HttpStatusSources): void {
    this.sources = running;
  }

  readiness(): Readiness {
    return this.sources.readiness();
  }

  configReport(): ConfigReport {
    return this.sources.configReport();
  }
}
