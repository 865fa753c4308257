-- Approve the phase that waits for approval: add its name to the comma-separated list in the
-- annotation optimization.tap.io/approve (what `kubectl optplan approve NAME` does).
local key = "optimization.tap.io/approve"
local status = obj.status or {}
local current = (status.phases or {})[(status.currentPhase or 0) + 1]
if current == nil or current.state ~= "AwaitingApproval" then
  return obj
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
local listed = obj.metadata.annotations[key] or ""
for name in string.gmatch(listed, "[^,]+") do
  if string.match(name, "^%s*(.-)%s*$") == current.name then
    return obj
  end
end
if string.match(listed, "^%s*$") then
  obj.metadata.annotations[key] = current.name
else
  obj.metadata.annotations[key] = listed .. "," .. current.name
end
return obj
