// The operational contract of hello, declared once: metric names and labels, route
// classes, the SLOs, the scrape job, the runbook location and the alert thresholds; and
// the same facts for the collector and the fluentd log pipeline around it.
// The rules, alerts and dashboards (rules/, dashboards/) are functions of `_config`;
// generate.py writes them to the paths kustomize ships, and observability/test.sh
// checks the binary against this file. Nothing else spells these values.
// A consumer of the mixin overrides fields with `(import 'mixin.libsonnet') + { _config+:: {...} }`.
{
  _config+:: {
    // ---- where hello runs, and how Prometheus names it
    namespace: 'hello',
    // The scrape job: the ServiceMonitor's jobLabel (app.kubernetes.io/name) on Service
    // hello-admin. test.sh checks prometheus/servicemonitor.yaml yields this value.
    job: 'hello',
    jobSelector: 'job="%s"' % self.job,
    // Deployment and HPA name; its pods are <workload>-... (kube-state-metrics has no pod labels).
    workload: 'hello',
    podSelector: 'namespace="%s", pod=~"%s-.*"' % [self.namespace, self.workload],

    // ---- runbooks: every runbook_url and dashboard link is runbookBase/<path>#<anchor>
    runbookBase: 'https://github.com/your-org/hello/blob/main',
    runbookPath: 'observability/RUNBOOK.md',
    runbook(anchor):: '%s/%s%s' % [self.runbookBase, self.runbookPath, if anchor == '' then '' else '#' + anchor],

    // ---- the metrics the binary exports (src/telemetry/metrics.rs, src/scratch.rs, and the
    // process collector). `labels` is the exact label set of every series; `values` lists a
    // label's complete value set where it is closed. test.sh scrapes the real binary and
    // fails on any difference, and on any query naming a metric not exported here, not
    // recorded by a rule, and not listed under `external`.
    metrics: {
      requestDuration: {
        name: 'http_server_request_duration_seconds',
        type: 'histogram',
        labels: ['http_request_method', 'http_route', 'http_response_status_code'],
      },
      activeRequests: { name: 'http_server_active_requests', type: 'gauge', labels: ['http_request_method'] },
      buildInfo: { name: 'hello_build_info', type: 'gauge', labels: ['revision', 'version'] },
      scratchBytes: { name: 'hello_scratch_bytes', type: 'gauge', labels: [] },
      scratchQuota: { name: 'hello_scratch_quota_bytes', type: 'gauge', labels: [] },
      logEvents: {
        name: 'hello_log_events_total',
        type: 'counter',
        labels: ['outcome', 'sink'],
        values: { sink: ['kafka'], outcome: ['dropped', 'failed', 'sent'] },
      },
      exportErrors: {
        name: 'hello_telemetry_export_errors_total',
        type: 'counter',
        labels: ['signal'],
        values: { signal: ['logs', 'traces'] },
      },
      processCpu: { name: 'process_cpu_seconds_total', type: 'counter', labels: [] },
      processRss: { name: 'process_resident_memory_bytes', type: 'gauge', labels: [] },
      processVirtual: { name: 'process_virtual_memory_bytes', type: 'gauge', labels: [] },
      processVirtualMax: { name: 'process_virtual_memory_max_bytes', type: 'gauge', labels: [] },
      processOpenFds: { name: 'process_open_fds', type: 'gauge', labels: [] },
      processMaxFds: { name: 'process_max_fds', type: 'gauge', labels: [] },
      processThreads: { name: 'process_threads', type: 'gauge', labels: [] },
      processStart: { name: 'process_start_time_seconds', type: 'gauge', labels: [] },
    },

    // ---- route classes: every value of http_route, by the listener that serves it.
    // `example` is a request that reaches the route (the metric check sends it).
    // `unmatched` is the route label of a request no route matched.
    routeClasses: {
      public: {
        port: 'http',
        routes: {
          '/': { example: ['GET', '/'] },
          '/version': { example: ['GET', '/version'] },
          '/v1/scratch/{key}': { example: ['PUT', '/v1/scratch/contract-check'] },
          unmatched: { example: ['GET', '/no/such/route'] },
        },
      },
      // Only with FAULT_INJECTION=true.
      fault: {
        port: 'http',
        routes: {
          '/v1/status/{code}': { example: ['GET', '/v1/status/503'] },
          '/v1/delay/{ms}': { example: ['GET', '/v1/delay/1'] },
          '/v1/panic': { example: ['GET', '/v1/panic'] },
        },
      },
      probe: {
        port: 'admin',
        routes: {
          '/healthz': { example: ['GET', '/healthz'] },
          '/readyz': { example: ['GET', '/readyz'] },
        },
      },
      admin: {
        port: 'admin',
        routes: { '/metrics': { example: ['GET', '/metrics'] } },
      },
    },
    routesOf(classes):: std.flattenArrays([std.objectFields(self.routeClasses[c].routes) for c in classes]),

    // ---- SLOs. Probes and scrapes are not users (a failing probe is the pod and target
    // alerts' business); fault routes DO count, so a drill burns budget like an outage.
    slo: {
      periodDays: 30,
      excludedRouteClasses: ['probe', 'admin'],
      availability: { name: 'hello-availability', budget: 0.001 },  // 99.9 % not 5xx
      latency: { name: 'hello-latency', budget: 0.01, thresholdSeconds: 0.25 },  // 99 % within 250 ms (a histogram bucket)
      // Multiwindow, multi-burn-rate alerts (Google SRE workbook): two pages, two tickets.
      burnRates: [
        { suffix: 'Fast', factor: 14.4, long: '1h', short: '5m', 'for': '2m', severity: 'critical' },
        { suffix: 'High', factor: 6, long: '6h', short: '30m', 'for': '15m', severity: 'critical' },
        { suffix: 'Medium', factor: 3, long: '1d', short: '2h', 'for': '1h', severity: 'warning' },
        { suffix: 'Slow', factor: 1, long: '3d', short: '6h', 'for': '3h', severity: 'warning' },
      ],
    },
    sloSelector:: '%s, http_route!~"%s"' % [self.jobSelector, std.join('|', self.routesOf(self.slo.excludedRouteClasses))],
    serverErrors: 'http_response_status_code=~"5.."',

    // Per-route latency quantiles: recorded (rules/hello-requests) and drawn (overview).
    latencyQuantiles: [0.5, 0.9, 0.99],

    // ---- alert thresholds
    thresholds: {
      scratchUsedRatio: 0.9,  // of SCRATCH_QUOTA_BYTES (hello_scratch_quota_bytes)
      memoryLimitRatio: 0.9,  // working set / memory limit
      restartsPerHour: 2,
      collectorQueueRatio: 0.8,
    },
    // Outcomes of hello_log_events_total that are lost events.
    lostLogOutcomes: ['dropped', 'failed'],

    // ---- the OpenTelemetry Collector gateway (otel-collector/)
    collector: { job: 'otel-collector', namespace: 'observability' },

    // ---- the fluentd log pipeline (fluentd/): forwarder DaemonSet and aggregator StatefulSet,
    // scraped by fluentd/base's PodMonitor and ServiceMonitor. Its alerts (rules/fluentd) and
    // the telemetry dashboard's fluentd panels read these; fluentd/test.sh checks the
    // rendered fluentd manifests and config against them.
    fluentd: {
      namespace: 'logging',
      // Pods fluentd-forwarder-<hash> and fluentd-aggregator-<n>: the names start with this.
      podPrefix: 'fluentd-',
      // runbook_url of the fluentd alerts: runbookBase/<runbookPath>#<alert>.
      runbookPath: 'fluentd/RUNBOOK.md',
      // The fluentd metrics queried here. `source`: the fluent-plugin-prometheus input @type
      // that exports the family (fluentd/plugin-metrics.txt lists each type's families), or
      // 'config' for a <metric> the fluentd config declares itself. fluentd/test.sh fails
      // when the rendered config does not export one of them, when a config <metric> is
      // missing here, and when a query names a fluentd metric not listed here.
      metrics: {
        outputErrors: { name: 'fluentd_output_status_num_errors', source: 'prometheus_output_monitor' },
        outputRetryWait: { name: 'fluentd_output_status_retry_wait', source: 'prometheus_output_monitor' },
        outputRetryCount: { name: 'fluentd_output_status_retry_count', source: 'prometheus_output_monitor' },
        bufferBytes: { name: 'fluentd_output_status_buffer_total_bytes', source: 'prometheus_output_monitor' },
        bufferQueueLength: { name: 'fluentd_output_status_buffer_queue_length', source: 'prometheus_output_monitor' },
        recordsIn: { name: 'fluentd_input_status_num_records_total', source: 'config' },
        recordsCriTime: { name: 'fluentd_records_cri_time_total', source: 'config' },
      },
      thresholds: {
        retryStuckSeconds: 600,  // fluentd_output_status_retry_wait: a retry sequence this long pages
        bufferBytes: 536870912,  // 512 MiB buffered and still growing: a ticket
      },
    },
    fluentdSelector:: 'namespace="%s", pod=~"%s.*"' % [self.fluentd.namespace, self.fluentd.podPrefix],
    fluentdRunbook(anchor):: '%s/%s#%s' % [self.runbookBase, self.fluentd.runbookPath, anchor],

    // ---- metrics queried here that other programs export (cannot be scraped here); fluentd's
    // are declared under `fluentd.metrics` above.
    external: {
      prometheus: ['up'],
      'kube-state-metrics': [
        'kube_horizontalpodautoscaler_spec_max_replicas',
        'kube_horizontalpodautoscaler_spec_min_replicas',
        'kube_horizontalpodautoscaler_status_current_replicas',
        'kube_horizontalpodautoscaler_status_desired_replicas',
        'kube_pod_container_resource_limits',
        'kube_pod_container_resource_requests',
        'kube_pod_container_status_restarts_total',
        'kube_pod_container_status_waiting_reason',
      ],
      cadvisor: ['container_memory_working_set_bytes'],
      'otel-collector': [
        'otelcol_exporter_queue_capacity',
        'otelcol_exporter_queue_size',
        'otelcol_exporter_send_failed_log_records_total',
        'otelcol_exporter_send_failed_spans_total',
        'otelcol_receiver_refused_log_records_total',
        'otelcol_receiver_refused_spans_total',
      ],
    },
  },
}
