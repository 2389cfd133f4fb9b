import type { Qos } from '../../contract/rules.js';

/** User property names of the mapping contract (Alibaba Cloud MQTT convention). */
export const PROP = {
  qos: 'qoslevel',
  cleanSession: 'cleansessionflag',
  secondTopic: 'mqttSecondTopic',
  realTopic: 'mqttRealTopic',
  clientId: 'clientId',
  /**
   * Not part of the contract: names the bridge that produced a message from MQTT, so that
   * bridge skips its own echo on the downlink while other bridges bound to the same
   * RocketMQ topic still deliver it.
   */
  origin: 'mqbridgeOrigin',
  /**
   * Not part of the contract: RocketMQ refuses empty bodies ("message body cannot be empty"),
   * so an empty MQTT payload travels as EMPTY_PAYLOAD_PLACEHOLDER with this property set to
   * `true`, and devices get the empty payload back.
   */
  emptyBody: 'mqbridgeEmptyBody',
} as const;

export const EMPTY_PAYLOAD_PLACEHOLDER = Buffer.from([0]);

/** The MQTT payload of a RocketMQ message body. */
export function payloadOf(body: Buffer, properties: ReadonlyMap<string, string>): Buffer {
  return properties.get(PROP.emptyBody) === 'true' ? Buffer.alloc(0) : body;
}


export function parseQos(value: string | undefined): Qos | undefined {
  if (value === '0' || value === '1' || value === '2') return Number(value) as Qos;
  return undefined;
}
