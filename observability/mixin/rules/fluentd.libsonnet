// Alerts on the fluentd log pipeline (fluentd/): fluent-plugin-prometheus metrics of the
// forwarders and aggregators, selected to this kit's fluentd pods (c.fluentdSelector) so
// another fluentd in the cluster does not page with this runbook.
local lib = import '../lib.libsonnet';
function(c)
  local f = c.fluentd;
  local m = f.metrics;
  local sel = c.fluentdSelector;
  lib.prometheusRule('fluentd', f.namespace, {
    'app.kubernetes.io/name': 'fluentd',
    'app.kubernetes.io/instance': 'fluentd',
  }, [{
    name: 'fluentd',
    rules: [
      // num_errors only grows (reset on restart): any increase is a failed flush (Kafka or
      // an aggregator refused or timed out).
      {
        alert: 'FluentdOutputErrors',
        expr: |||
          sum by (namespace, pod, plugin_id, type) (
            increase(%s{%s}[10m])
          ) > 0
        ||| % [m.outputErrors.name, sel],
        'for': '10m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'fluentd output {{ $labels.plugin_id }} on {{ $labels.pod }} keeps failing to flush',
          description: "{{ $value | humanize }} failed flushes in 10 minutes. Chunks are retried from the file buffer; check the pod's log for the error.",
          runbook_url: c.fluentdRunbook('fluentdoutputerrors'),
        },
      },
      // retry_wait is the time from the start of the current retry sequence to the next
      // retry (0 once a flush succeeds): past the threshold the destination has been down
      // about that long.
      {
        alert: 'FluentdOutputRetryStuck',
        expr: |||
          max by (namespace, pod, plugin_id, type) (%s{%s}) > %d
        ||| % [m.outputRetryWait.name, sel, f.thresholds.retryStuckSeconds],
        'for': '5m',
        labels: { severity: 'critical' },
        annotations: {
          summary: 'fluentd output {{ $labels.plugin_id }} on {{ $labels.pod }} has been retrying for over %s'
                   % lib.duration(f.thresholds.retryStuckSeconds),
          description: 'Nothing is delivered; logs accumulate in the buffer until it is full (forwarder: files stop being read; '
                       + 'aggregator: forwarders stop getting acks). Retry wait {{ $value | humanizeDuration }}.',
          runbook_url: c.fluentdRunbook('fluentdoutputretrystuck'),
        },
      },
      // Over the threshold and still growing for 30 minutes: the output cannot keep up (or
      // is down) and the buffer is heading for its limit.
      {
        alert: 'FluentdBufferGrowing',
        expr: |||
          (
            max by (namespace, pod, plugin_id) (%(m)s{%(sel)s}) > %(bytes)d
          )
          and
          (
            max by (namespace, pod, plugin_id) (deriv(%(m)s{%(sel)s}[30m])) > 0
          )
        ||| % { m: m.bufferBytes.name, sel: sel, bytes: f.thresholds.bufferBytes },
        'for': '30m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'fluentd buffer of {{ $labels.plugin_id }} on {{ $labels.pod }} keeps growing',
          description: '{{ $value | humanize1024 }}B buffered and rising. At the limit the forwarder stops reading files '
                       + '(kubelet may rotate them away) and the aggregator refuses chunks.',
          runbook_url: c.fluentdRunbook('fluentdbuffergrowing'),
        },
      },
      {
        alert: 'FluentdDown',
        expr: |||
          up{%s} == 0
        ||| % sel,
        'for': '10m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'fluentd pod {{ $labels.pod }} cannot be scraped',
          description: "The pod is down or its metrics endpoint is not answering: a forwarder down means that node's logs wait in their files.",
          runbook_url: c.fluentdRunbook('fluentddown'),
        },
      },
    ],
  }]) + {
    header:: |||
      Alerts on the log pipeline (fluent-plugin-prometheus metrics, scraped by the forwarder
      PodMonitor and the aggregator ServiceMonitor), on this kit's fluentd pods only.
      Unit tests: fluentd/monitoring/prometheusrule.test.yaml (promtool, run by fluentd/test.sh).
    |||,
  }
