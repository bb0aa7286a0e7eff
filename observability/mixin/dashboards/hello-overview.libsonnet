// hello / Overview: rate, errors, latency, SLO budget and capacity.
local lib = import '../lib.libsonnet';
local g = import 'grafana.libsonnet';
function(c)
  local m = c.metrics;
  local d = m.requestDuration.name;
  local s = c.slo;
  local sel = 'namespace="$namespace", %s, pod=~"$pod"' % c.jobSelector;  // hello's own series
  local kpods = 'namespace="$namespace", pod=~"$pod"';  // kube-state-metrics / cAdvisor series
  local nsJob = 'namespace="$namespace", %s' % c.jobSelector;
  local budget = lib.num(s.availability.budget);
  local pct(x) = lib.num(x * 100);
  local ms = lib.num(s.latency.thresholdSeconds * 1000);
  local burn(suffix) = std.filter(function(b) b.suffix == suffix, s.burnRates)[0];
  local fast = burn('Fast');
  local windows = lib.windows(s.burnRates);
  local runbook(title, anchor) = g.link(title, c.runbook(anchor));
  local hpa(metric) = '%s{namespace="$namespace", horizontalpodautoscaler="%s"}' % [metric, c.workload];
  local kube(metric, resource) = 'sum by (pod) (%s{%s, resource="%s"})' % [metric, kpods, resource];

  g.dashboard(
    'hello-overview',
    'hello / Overview',
    'Rate, errors, latency, SLO budget and capacity of the hello service.',
    [
      g.link('Runbook', c.runbook(''), 'One section per alert'),
      g.dashboardLink('Telemetry pipeline', 'hello-telemetry'),
    ],
    [
      g.datasourceVariable,
      g.queryVariable('namespace', 'Namespace', 'label_values(%s{%s}, namespace)' % [m.buildInfo.name, c.jobSelector]),
      g.queryVariable('pod', 'Pod', 'label_values(%s{%s}, pod)' % [m.buildInfo.name, nsJob], multi=true),
      g.queryVariable('route', 'Route (heatmaps)', 'label_values(%s_count{%s}, http_route)' % [d, nsJob], multi=true),
    ],
    [
      g.row(1, 'Traffic', 0),
      g.timeseries(2, 'Requests per second by route', [8, 12, 0, 1], g.targets([
        ['sum by (http_route) (rate(%s_count{%s}[$__rate_interval]))' % [d, sel], '{{http_route}}'],
      ]), 'reqps'),
      g.timeseries(3,
                   'Error ratio (5xx) by route',
                   [8, 12, 12, 1],
                   g.targets([
                     [('(sum by (http_route) (rate(%(d)s_count{%(sel)s, %(err)s}[$__rate_interval])) or 0 * sum by (http_route) (rate(%(d)s_count{%(sel)s}[$__rate_interval])))'
                       + ' / sum by (http_route) (rate(%(d)s_count{%(sel)s}[$__rate_interval]))') % { d: d, sel: sel, err: c.serverErrors }, '{{http_route}}'],
                   ]),
                   'percentunit',
                   'Share of responses with a 5xx status, per route template.',
                   [runbook('Runbook: error budget burn', 'helloerrorbudgetburnfast')]),
      g.timeseries(4, 'Latency %s by route' % std.join(' / ', ['p' + pct(q) for q in c.latencyQuantiles]), [8, 12, 0, 9], g.targets([
        ['histogram_quantile(%s, sum by (le, http_route) (rate(%s_bucket{%s}[$__rate_interval])))' % [lib.num(q), d, sel], '{{http_route}} p' + pct(q)]
        for q in c.latencyQuantiles
      ]), 's', links=[runbook('Runbook: latency', 'hellolatencybudgetburnfast')]),
      g.timeseries(5, 'In-flight requests', [8, 12, 12, 9], g.targets([
        ['sum by (pod, http_request_method) (%s{%s})' % [m.activeRequests.name, sel], '{{pod}} {{http_request_method}}'],
      ]), 'short'),
      g.panel(6, 'heatmap', 'Latency heatmap: $route', [8, 24, 0, 17], [
        g.target('A', 'sum by (le) (increase(%s_bucket{%s, http_route=~"$route"}[$__rate_interval]))' % [d, sel], '{{le}}') + { format: 'heatmap' },
      ], description='One heatmap per route selected in the Route variable.') + {
        options: {
          calculate: false,
          yAxis: { unit: 's' },
          cellGap: 1,
          color: { mode: 'scheme', scheme: 'Spectral', steps: 64 },
        },
        repeat: 'route',
        repeatDirection: 'h',
        maxPerRow: 3,
      },

      g.row(7, 'SLO (availability %s %% and latency %s %% within %s ms, %d days)'
               % [lib.num(100 - s.availability.budget * 100), lib.num(100 - s.latency.budget * 100), ms, s.periodDays], 25),
      g.stat(8,
             'Availability error budget remaining (%d days)' % s.periodDays,
             [8, 6, 0, 26],
             [
               g.instant('A', ('1 - ((sum(increase(%(d)s_count{namespace="$namespace", %(slo)s, %(err)s}[%(p)dd])) or vector(0))'
                               + ' / sum(increase(%(d)s_count{namespace="$namespace", %(slo)s}[%(p)dd]))) / %(b)s')
                              % { d: d, slo: c.sloSelector, err: c.serverErrors, p: s.periodDays, b: budget }, 'budget'),
             ],
             'percentunit',
             ('1 - (5xx share over %(p)d days / %(pct)s %%). Below 0: the SLO is missed for this window. '
              + 'Needs %(p)d days of Prometheus retention: kube-prometheus-stack keeps 10 days by default '
              + '(set prometheus.prometheusSpec.retention: %(p1)dd). With less, [%(p)dd] covers only the retained days '
              + 'and this shows the budget of that shorter window.') % { p: s.periodDays, p1: s.periodDays + 1, pct: pct(s.availability.budget) },
             [runbook('Runbook: SLOs', 'slos-in-one-paragraph')]) + {
        fieldConfig+: { defaults+: { thresholds: { mode: 'absolute', steps: [
          { color: 'red', value: null },
          { color: 'orange', value: 0.25 },
          { color: 'green', value: 0.5 },
        ] } } },
      },
      g.timeseries(9, 'Availability burn rate (1 = budget lasts %d days)' % s.periodDays, [8, 12, 6, 26], g.targets([
        ['namespace_job:hello_slo_errors:ratio_rate%s{%s} / %s' % [w, nsJob, budget], w]
        for w in windows
      ]), 'short', 'Error ratio over each alert window divided by the budget (%s %%). Pages at %s; tickets at %s.' % [
        pct(s.availability.budget),
        std.join(' and ', ['%s (%s and %s)' % [lib.num(b.factor), b.long, b.short] for b in s.burnRates if b.severity == 'critical']),
        std.join(' and ', ['%s (%s and %s)' % [lib.num(b.factor), b.long, b.short] for b in s.burnRates if b.severity != 'critical']),
      ], [runbook('Runbook: fast burn', 'helloerrorbudgetburnfast')]) + {
        fieldConfig+: { defaults+: {
          custom: { thresholdsStyle: { mode: 'line' } },
          thresholds: { mode: 'absolute', steps: [
            { color: 'green', value: null },
            { color: 'yellow', value: burn('Slow').factor },
            { color: 'orange', value: burn('High').factor },
            { color: 'red', value: fast.factor },
          ] },
        } },
      },
      g.timeseries(10, 'Requests slower than %s ms (latency SLO budget %s %%)' % [ms, pct(s.latency.budget)], [8, 6, 18, 26], g.targets([
        ['namespace_job:hello_slo_slow:ratio_rate%s{%s}' % [w, nsJob], w]
        for w in [fast.short, fast.long]
      ]), 'percentunit', links=[runbook('Runbook: latency', 'hellolatencybudgetburnfast')]),

      g.row(11, 'Capacity and pods', 34),
      g.timeseries(12, 'Replicas vs HPA bounds', [8, 8, 0, 35], g.targets([
        [hpa('kube_horizontalpodautoscaler_status_current_replicas'), 'current'],
        [hpa('kube_horizontalpodautoscaler_status_desired_replicas'), 'desired'],
        [hpa('kube_horizontalpodautoscaler_spec_min_replicas'), 'min'],
        [hpa('kube_horizontalpodautoscaler_spec_max_replicas'), 'max'],
        ['count(up{%s} == 1)' % nsJob, 'pods scraped'],
      ]), 'short', links=[runbook('Runbook: HPA at max', 'hellohpamaxedout')]),
      g.timeseries(13, 'CPU vs requests and limits', [8, 8, 8, 35], g.targets([
        ['sum by (pod) (rate(%s{%s}[$__rate_interval]))' % [m.processCpu.name, sel], '{{pod}} used'],
        [kube('kube_pod_container_resource_requests', 'cpu'), '{{pod}} request'],
        [kube('kube_pod_container_resource_limits', 'cpu'), '{{pod}} limit'],
      ]), 'short'),
      g.timeseries(14, 'Memory vs requests and limits', [8, 8, 16, 35], g.targets([
        ['sum by (pod) (%s{%s})' % [m.processRss.name, sel], '{{pod}} RSS'],
        ['sum by (pod) (container_memory_working_set_bytes{%s, container!="", container!="POD"})' % kpods, '{{pod}} working set'],
        [kube('kube_pod_container_resource_requests', 'memory'), '{{pod}} request'],
        [kube('kube_pod_container_resource_limits', 'memory'), '{{pod}} limit'],
      ]), 'bytes', links=[runbook('Runbook: memory near limit', 'hellomemorynearlimit')]),
      g.timeseries(15, 'Container restarts (last hour)', [8, 8, 0, 43], g.targets([
        ['sum by (pod) (increase(kube_pod_container_status_restarts_total{%s}[1h]))' % kpods, '{{pod}}'],
      ]), 'short', links=[runbook('Runbook: restarts', 'hellopodrestarting')]),
      g.timeseries(16, 'Process uptime', [8, 8, 8, 43], g.targets([
        ['time() - %s{%s}' % [m.processStart.name, sel], '{{pod}}'],
      ]), 's', 'Drops to 0 on every restart; visible without kube-state-metrics.'),
      g.timeseries(17, 'Scratch space vs quota', [8, 8, 16, 43], g.targets([
        ['%s{%s} / %s{%s}' % [m.scratchBytes.name, sel, m.scratchQuota.name, sel], '{{pod}}'],
      ]), 'percentunit', links=[runbook('Runbook: scratch near quota', 'helloscratchnearquota')]),
      g.timeseries(18, 'Open file descriptors vs limit', [8, 12, 0, 51], g.targets([
        ['%s{%s} / %s{%s}' % [m.processOpenFds.name, sel, m.processMaxFds.name, sel], '{{pod}}'],
      ]), 'percentunit'),
      g.panel(19, 'table', 'Running versions', [8, 12, 12, 51], [
        g.instant('A', 'count by (version, revision) (%s{%s})' % [m.buildInfo.name, sel], '__auto') + { format: 'table' },
      ]),
    ],
  )
