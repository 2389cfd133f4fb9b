import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { RESOURCES, apiVersionOf, resourcePath } from '../k8s/paths.js';
import type { KubeRest } from '../k8s/rest.js';

export interface Regarding {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

/** Records events.k8s.io/v1 Events for notable changes; a failure to record never fails a reconcile. */
export class EventRecorder {
  constructor(
    private readonly rest: KubeRest,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  async record(regarding: Regarding, type: 'Normal' | 'Warning', reason: string, note: string, action = reason): Promise<void> {
    const event = {
      apiVersion: apiVersionOf(RESOURCES.event),
      kind: 'Event',
      metadata: { name: `${regarding.name}.${randomBytes(6).toString('hex')}`, namespace: regarding.namespace },
      eventTime: new Date().toISOString().replace('Z', '000Z'),
      reportingController: 'mqbridge.dev/operator',
      reportingInstance: this.instance,
      action,
      reason,
      type,
      note: note.slice(0, 1024),
      regarding,
    };
    try {
      await this.rest.create(resourcePath(RESOURCES.event, regarding.namespace), event, 'mqbridge-operator');
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'could not record event');
    }
  }
}
