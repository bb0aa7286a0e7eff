// What generate.py writes: repository path -> {header, content}. The paths are the ones
// kustomize (observability/prometheus, observability/otel-collector, grafana) ships.
local mixin = import 'mixin.libsonnet';
local rulePath = {
  'otel-collector': 'observability/otel-collector/prometheusrule.yaml',
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
