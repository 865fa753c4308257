-- Resume a plan held by spec.suspend: it goes on at its next phase.
obj.spec.suspend = false
return obj
