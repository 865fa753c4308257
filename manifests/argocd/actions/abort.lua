-- Abort: roll every applied phase back (the annotation optimization.tap.io/abort=true).
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["optimization.tap.io/abort"] = "true"
return obj
