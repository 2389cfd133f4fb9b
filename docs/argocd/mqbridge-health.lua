-- Argo CD health of an MqttBridge or a TopicBinding, from the conditions the operator writes
-- (Ready, Reconciling, Stalled: kstatus' terms, which Flux reads without a script).
local hs = { status = "Progressing", message = "waiting for the mqbridge operator" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.metadata.generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < obj.metadata.generation) then
  hs.message = "the operator has not seen the latest change yet"
  return hs
end
local found = {}
for _, c in ipairs(obj.status.conditions) do
  found[c.type] = c
end
local function say(c)
  return c.reason .. ": " .. (c.message or "")
end
if found.Stalled ~= nil and found.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = say(found.Stalled)
elseif found.Reconciling ~= nil and found.Reconciling.status == "True" then
  hs.message = say(found.Reconciling)
elseif found.Ready ~= nil and found.Ready.status == "True" then
  hs.status = "Healthy"
  hs.message = say(found.Ready)
elseif found.Ready ~= nil and found.Ready.reason == "ScaledToZero" then
  hs.status = "Suspended"
  hs.message = say(found.Ready)
elseif found.Ready ~= nil then
  hs.message = say(found.Ready)
end
return hs
