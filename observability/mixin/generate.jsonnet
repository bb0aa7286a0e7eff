// What generate.py writes: repository path -> {header, content}. The paths are the ones
// kustomize (observability/prometheus, observability/otel-collector, fluentd/monitoring,
// grafana) ships.
// `override` (a top-level argument) changes _config fields, e.g. for a check that the
// tests follow the contract; the committed files use none.
function(override={})
  local mixin = (import 'mixin.libsonnet') + { _config+:: override };
  local rulePath = {
    'otel-collector': 'observability/otel-collector/prometheusrule.yaml',
    fluentd: 'fluentd/monitoring/prometheusrule.yaml',
  };
  {
    [std.get(rulePath, name, 'observability/prometheus/rules/%s.yaml' % name)]: {
      header: mixin.prometheusRules[name].header,
      source: 'observability/mixin/rules/%s.libsonnet' % name,
      content: mixin.prometheusRules[name],
    }
    for name in std.objectFields(mixin.prometheusRules)
  } + {
    ['grafana/dashboards/%s.json' % uid]: {
      source: 'observability/mixin/dashboards/%s.libsonnet' % uid,
      content: mixin.grafanaDashboards[uid],
    }
    for uid in std.objectFields(mixin.grafanaDashboards)
  }
