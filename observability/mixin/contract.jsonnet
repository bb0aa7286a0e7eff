// The contract as plain data, for the checks in observability/lib/contract.py.
function(override={})
  local c = ((import 'mixin.libsonnet') + { _config+:: override })._config;
  {
    [k]: c[k]
    for k in std.objectFields(c)
  } + {
    sloSelector: c.sloSelector,
    runbookExample: c.runbook('anchor'),
  }
