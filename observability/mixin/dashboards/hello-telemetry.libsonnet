// hello / Telemetry pipeline: Kafka log sink, OTLP export, fluentd.
local g = import 'grafana.libsonnet';
function(c)
  local m = c.metrics;
  local sel = 'namespace="$namespace", %s, pod=~"$pod"' % c.jobSelector;
  local nsJob = 'namespace="$namespace", %s' % c.jobSelector;
  local kafka = '%s, sink="kafka"' % sel;
  local runbook(title, anchor) = g.link(title, c.runbook(anchor));
  local fm = c.fluentd.metrics;
  local fluentd(metric) = 'sum by (pod, plugin_id) (%s{namespace="$logging_namespace"})' % metric.name;

  g.dashboard(
    'hello-telemetry',
    'hello / Telemetry pipeline',
    "Where hello's logs and traces go: Kafka log sink, OTLP export, fluentd.",
    [
      g.link('Runbook', c.runbook(''), 'One section per alert'),
      g.dashboardLink('Overview', 'hello-overview'),
    ],
    [
      g.datasourceVariable,
      g.queryVariable('namespace', 'Namespace', 'label_values(%s{%s}, namespace)' % [m.buildInfo.name, c.jobSelector]),
      g.queryVariable('pod', 'Pod', 'label_values(%s{%s}, pod)' % [m.buildInfo.name, nsJob], multi=true),
      {
        name: 'logging_namespace',
        label: 'fluentd namespace',
        type: 'custom',
        query: c.fluentd.namespace,
        current: { text: c.fluentd.namespace, value: c.fluentd.namespace },
        hide: 0,
        options: [{ text: c.fluentd.namespace, value: c.fluentd.namespace, selected: true }],
        includeAll: false,
        multi: false,
      },
    ],
    [
      g.row(1, 'Kafka log sink (hello → Kafka)', 0),
      g.timeseries(2, 'Kafka log events by outcome', [8, 12, 0, 1], g.targets([
        ['sum by (outcome) (rate(%s{%s}[$__rate_interval]))' % [m.logEvents.name, kafka], '{{outcome}}'],
      ]), 'cps', links=[runbook('Runbook: Kafka events dropped', 'hellokafkalogeventsdropped')]),
      g.timeseries(3, 'Kafka log events lost (%s) ratio' % std.join(' + ', c.lostLogOutcomes), [8, 12, 12, 1], g.targets([
        ['(sum(rate(%(n)s{%(k)s, outcome=~"%(lost)s"}[$__rate_interval])) or vector(0)) / sum(rate(%(n)s{%(k)s}[$__rate_interval]))'
         % { n: m.logEvents.name, k: kafka, lost: std.join('|', c.lostLogOutcomes) }, 'lost'],
      ]), 'percentunit'),
      g.stat(4, 'Kafka log events in the last hour', [8, 12, 0, 9], [
        g.instant('A', 'sum by (outcome) (increase(%s{%s}[1h]))' % [m.logEvents.name, kafka], '{{outcome}}'),
      ], 'short'),

      g.row(5, 'OTLP export (hello → OpenTelemetry Collector)', 17),
      g.timeseries(6, 'Telemetry export errors by signal', [8, 12, 0, 18], g.targets([
        ['sum by (signal) (rate(%s{%s}[$__rate_interval]))' % [m.exportErrors.name, sel], '{{signal}}'],
      ]), 'cps', links=[runbook('Runbook: export errors', 'hellotelemetryexporterrors')]),
      g.stat(7, 'Export errors in the last hour', [8, 12, 12, 18], [
        g.instant('A', 'sum by (signal) (increase(%s{%s}[1h]))' % [m.exportErrors.name, sel], '{{signal}}'),
      ], 'short'),

      g.row(8, "fluentd (shown when fluentd's Prometheus metrics are scraped)", 26),
      g.timeseries(9, 'fluentd buffer queue length', [8, 12, 0, 27], g.targets([
        [fluentd(fm.bufferQueueLength), '{{pod}} {{plugin_id}}'],
      ]), 'short'),
      g.timeseries(10, 'fluentd buffer size', [8, 12, 12, 27], g.targets([
        [fluentd(fm.bufferBytes), '{{pod}} {{plugin_id}}'],
      ]), 'bytes'),
      g.timeseries(11, 'fluentd retries', [8, 12, 0, 35], g.targets([
        [fluentd(fm.outputRetryCount), '{{pod}} {{plugin_id}}'],
      ]), 'short'),
      g.timeseries(12, 'fluentd output errors', [8, 12, 12, 35], g.targets([
        ['sum by (pod, plugin_id) (rate(%s{namespace="$logging_namespace"}[$__rate_interval]))' % fm.outputErrors.name, '{{pod}} {{plugin_id}}'],
      ]), 'cps'),
    ],
  )
