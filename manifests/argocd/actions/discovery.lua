-- Argo CD resource actions of an OptimizationPlan: which are offered now.
-- approve: a phase waits for approval; abort: the plan has not ended and is not aborted yet;
-- resume: spec.suspend is set on a plan that has not ended.
local actions = {}
local status = obj.status or {}
local state = status.state or "Pending"
local ended = state == "Succeeded" or state == "RolledBack" or state == "Failed"
local current = (status.phases or {})[(status.currentPhase or 0) + 1]
local annotations = obj.metadata.annotations or {}
local aborted = annotations["optimization.tap.io/abort"] == "true"
actions["approve"] = {["disabled"] = ended or current == nil or current.state ~= "AwaitingApproval"}
actions["abort"] = {["disabled"] = ended or aborted}
actions["resume"] = {["disabled"] = ended or obj.spec == nil or obj.spec.suspend ~= true}
return actions
