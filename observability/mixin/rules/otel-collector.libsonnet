// Alerts on the OpenTelemetry Collector's own metrics (0.115: the OpenTelemetry SDK's
// Prometheus exporter, counters end in _total).
local lib = import '../lib.libsonnet';
function(c)
  local job = 'job="%s"' % c.collector.job;
  lib.prometheusRule('otel-collector', c.collector.namespace, {
    'app.kubernetes.io/name': 'otel-collector',
    'app.kubernetes.io/component': 'collector',
    'app.kubernetes.io/part-of': 'hello',
  }, [{
    name: 'otel-collector.alerts',
    rules: [
      {
        alert: 'OtelCollectorDown',
        expr: |||
          up{%s, namespace="%s"} == 0
        ||| % [job, c.collector.namespace],
        'for': '5m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Prometheus cannot scrape collector pod {{ $labels.pod }}.',
          description: '{{ $labels.namespace }}/{{ $labels.pod }} has not answered on its metrics port for 5 minutes: '
                       + 'it is down, or its metrics cannot be reached (NetworkPolicy from monitoring on 8888).',
          runbook_url: c.runbook('otelcollectordown'),
        },
      },
      // Spans or log records the exporter gave up on after its retries (backend down,
      // TLS or auth mismatch, payload refused).
      {
        alert: 'OtelCollectorExportFailing',
        expr: |||
          sum by (namespace, pod, exporter) (
            rate(otelcol_exporter_send_failed_spans_total{%(job)s}[5m])
            or
            rate(otelcol_exporter_send_failed_log_records_total{%(job)s}[5m])
          ) > 0
        ||| % { job: job },
        'for': '10m',
        labels: { severity: 'critical' },
        annotations: {
          summary: "The collector's {{ $labels.exporter }} exporter keeps failing to send.",
          description: '{{ $labels.namespace }}/{{ $labels.pod }} fails to send {{ $value | humanize }} spans or log records '
                       + 'per second through {{ $labels.exporter }} for 10 minutes: they are lost for every application.',
          runbook_url: c.runbook('otelcollectorexportfailing'),
        },
      },
      // The sending queue near its capacity: next comes "enqueue failed" (data dropped).
      {
        alert: 'OtelCollectorQueueFull',
        expr: |||
          max by (namespace, pod, exporter) (otelcol_exporter_queue_size{%(job)s})
            /
          max by (namespace, pod, exporter) (otelcol_exporter_queue_capacity{%(job)s} > 0)
            > %(ratio)s
        ||| % { job: job, ratio: lib.num(c.thresholds.collectorQueueRatio) },
        'for': '5m',
        labels: { severity: 'warning' },
        annotations: {
          summary: "The collector's {{ $labels.exporter }} sending queue is over %s %% full." % lib.num(c.thresholds.collectorQueueRatio * 100),
          description: '{{ $labels.namespace }}/{{ $labels.pod }}: the {{ $labels.exporter }} queue is {{ $value | humanizePercentage }} '
                       + 'full for 5 minutes; once full, new data is dropped (otelcol_exporter_enqueue_failed_*).',
          runbook_url: c.runbook('otelcollectorqueuefull'),
        },
      },
      // The receiver refused data (memory_limiter pressure): clients retry, then drop.
      {
        alert: 'OtelCollectorRefusingData',
        expr: |||
          sum by (namespace, pod, receiver) (
            rate(otelcol_receiver_refused_spans_total{%(job)s}[5m])
            or
            rate(otelcol_receiver_refused_log_records_total{%(job)s}[5m])
          ) > 0
        ||| % { job: job },
        'for': '10m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'The collector refuses data on receiver {{ $labels.receiver }}.',
          description: '{{ $labels.namespace }}/{{ $labels.pod }} refuses {{ $value | humanize }} spans or log records per second '
                       + 'for 10 minutes (memory_limiter): clients retry and then drop them.',
          runbook_url: c.runbook('otelcollectorrefusingdata'),
        },
      },
    ],
  }]) + {
    header:: |||
      Alerts on the OpenTelemetry Collector's own metrics (0.115: the OpenTelemetry SDK's
      Prometheus exporter, counters end in _total). Traces lost here are lost for every
      instrumented application, so export failures page only when sustained; the rest are
      tickets. Unit tests: observability/prometheus/tests/otel-collector.test.yaml.
    |||,
  }
