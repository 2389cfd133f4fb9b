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
} as const;

export type Qos = 0 | 1 | 2;

export function parseQos(value: string | undefined): Qos | undefined {
  if (value === '0' || value === '1' || value === '2') return Number(value) as Qos;
  return undefined;
}
