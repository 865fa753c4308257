-- Argo CD health of an OptimizationPlan (optimization.tap.io), read from status.state.
-- Argo CD passes the live object as `obj` and shows the returned status and message.
local health = {status = "Progressing", message = "Waiting for tap-optimizer to pick the plan up"}
if obj.status == nil or obj.status.state == nil then
  return health
end

local states = {
  Pending = "Progressing", Progressing = "Progressing", Observing = "Progressing", RollingBack = "Progressing",
  Succeeded = "Healthy",
  RolledBack = "Degraded", Failed = "Degraded", Blocked = "Degraded",
  Paused = "Suspended", AwaitingApproval = "Suspended",
}
local state = obj.status.state
health.status = states[state] or "Unknown"
health.message = state

-- The most recently changed condition says why the plan is where it is.
local latest = nil
for _, condition in ipairs(obj.status.conditions or {}) do
  if condition.message ~= nil and condition.message ~= "" then
    if latest == nil or (condition.lastTransitionTime or "") >= (latest.lastTransitionTime or "") then
      latest = condition
    end
  end
end
if latest ~= nil then
  health.message = state .. ": " .. latest.message
end
return health
