// hello's own telemetry pipeline: log events to Kafka and OTLP export.
local lib = import '../lib.libsonnet';
function(c)
  local m = c.metrics;
  lib.prometheusRule('hello-telemetry', c.namespace, lib.helloRuleLabels, [{
    name: 'hello.telemetry.alerts',
    rules: [
      // dropped = the bounded queue was full; failed = the broker refused or timed out.
      // Both are lost log events.
      {
        alert: 'HelloKafkaLogEventsDropped',
        expr: |||
          sum by (namespace, job, pod, outcome) (rate(%s{%s, sink="kafka", outcome=~"%s"}[5m])) > 0
        ||| % [m.logEvents.name, c.jobSelector, std.join('|', c.lostLogOutcomes)],
        'for': '10m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'hello is losing log events on the way to Kafka.',
          description: '{{ $labels.namespace }}/{{ $labels.pod }} has {{ $labels.outcome }} {{ $value | humanize }} log events per second '
                       + 'for 10 minutes: those lines never reach Kafka (they are still on stdout).',
          runbook_url: c.runbook('hellokafkalogeventsdropped'),
        },
      },
      // Spans the OTLP exporter could not deliver (export failed, or dropped on a full
      // export queue). Only signal="traces": the service exports nothing else over OTLP.
      {
        alert: 'HelloTelemetryExportErrors',
        expr: |||
          sum by (namespace, job, pod, signal) (rate(%s{%s, signal="traces"}[5m])) > 0
        ||| % [m.exportErrors.name, c.jobSelector],
        'for': '15m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'hello cannot export its traces over OTLP.',
          description: '{{ $labels.namespace }}/{{ $labels.pod }} has failed to export spans for 15 minutes '
                       + '({{ $value | humanize }} spans per second lost): check the OpenTelemetry Collector.',
          runbook_url: c.runbook('hellotelemetryexporterrors'),
        },
      },
      // signal="logs" counts stdout log lines dropped because the bounded in-process log
      // queue was full (stdout, i.e. the container runtime, slower than the service
      // writes): lines that never reach stdout, so fluentd never sees them either.
      {
        alert: 'HelloLogLinesDropped',
        expr: |||
          sum by (namespace, job, pod) (rate(%s{%s, signal="logs"}[5m])) > 0
        ||| % [m.exportErrors.name, c.jobSelector],
        'for': '5m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'hello is dropping log lines before they reach stdout.',
          description: '{{ $labels.namespace }}/{{ $labels.pod }} has dropped {{ $value | humanize }} log lines per second for 5 minutes: '
                       + 'its bounded log queue is full because stdout (the container runtime) takes lines slower than the service writes them. '
                       + 'Those lines are on neither stdout nor fluentd.',
          runbook_url: c.runbook('hellologlinesdropped'),
        },
      },
    ],
  }]) + {
    header:: |||
      hello's own telemetry pipeline: log events to Kafka and OTLP export. Losing telemetry
      does not hurt users, so these are tickets (warning), but they make incidents blind.
    |||,
  }
