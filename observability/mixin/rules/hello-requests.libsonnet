// Per-route request rate, error ratio and latency quantiles, recorded so dashboards and
// ad-hoc queries stay cheap.
local lib = import '../lib.libsonnet';
function(c)
  local d = c.metrics.requestDuration.name;
  lib.prometheusRule('hello-requests', c.namespace, lib.helloRuleLabels, [{
    name: 'hello.requests.rules',
    rules: [
      {
        record: 'namespace_job_route_code:http_server_requests:rate5m',
        expr: |||
          sum by (namespace, job, http_route, http_response_status_code) (
            rate(%s_count{%s}[5m])
          )
        ||| % [d, c.jobSelector],
      },
      // 0 (not absent) for a route without 5xx, so every route has a value.
      {
        record: 'namespace_job_route:http_server_request_errors:ratio_rate5m',
        expr: |||
          (
            sum by (namespace, job, http_route) (namespace_job_route_code:http_server_requests:rate5m{%(err)s})
            or
            0 * sum by (namespace, job, http_route) (namespace_job_route_code:http_server_requests:rate5m)
          )
          /
          sum by (namespace, job, http_route) (namespace_job_route_code:http_server_requests:rate5m)
        ||| % { err: c.serverErrors },
      },
    ] + [
      {
        record: 'namespace_job_route:%s:histogram_quantile' % d,
        expr: |||
          histogram_quantile(%s, sum by (namespace, job, http_route, le) (rate(%s_bucket{%s}[5m])))
        ||| % [lib.num(q), d, c.jobSelector],
        labels: { quantile: lib.num(q) },
      }
      for q in c.latencyQuantiles
    ],
  }]) + {
    header:: |||
      Per-route request rate, error ratio and latency quantiles of hello, recorded so dashboards
      and ad-hoc queries stay cheap. Aggregated over pods per (namespace, job, http_route);
      http_route is the route template, so the series count stays bounded.
    |||,
  }
