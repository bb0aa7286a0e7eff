// Small helpers shared by rules/ and dashboards/: number formatting, windows, selectors.
// No contract value lives here (those are in config.libsonnet).
{
  // A number as PromQL and prose write it ("%g"): jsonnet's own std.toString prints 17
  // significant digits (0.014400000000000001).
  num(x):: '%g' % x,

  // Seconds in words, for alert text: 600 -> "10 minutes", 45 -> "45 seconds".
  duration(s)::
    local n = if s % 60 == 0 then s / 60 else s;
    local unit = if s % 60 == 0 then 'minute' else 'second';
    '%d %s%s' % [n, unit, if n == 1 then '' else 's'],

  // Seconds in a Prometheus duration ("5m", "1d"), for ordering windows.
  seconds(d)::
    local unit = d[std.length(d) - 1];
    std.parseInt(d[:std.length(d) - 1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[unit],

  // Every window the burn-rate alerts use, shortest first, once.
  windows(burnRates):: std.set(std.flattenArrays([[b.long, b.short] for b in burnRates]), self.seconds),

  // The one PrometheusRule shape every rules file has.
  prometheusRule(name, namespace, labels, groups):: {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: name, namespace: namespace, labels: labels },
    spec: { groups: groups },
  },

  // Labels of every hello PrometheusRule.
  helloRuleLabels:: {
    'app.kubernetes.io/name': 'hello',
    'app.kubernetes.io/component': 'monitoring',
    'app.kubernetes.io/part-of': 'hello',
  },
}
