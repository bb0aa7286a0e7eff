// hello's monitoring mixin: the contract (config.libsonnet) and everything generated from
// it (hello's rules and dashboards, the collector's and fluentd's alerts). Importable by a
// kube-prometheus style setup:
//   (import 'mixin.libsonnet') + { _config+:: { runbookBase: '...' } }
(import 'config.libsonnet') + {
  local c = self._config,
  // PrometheusRule objects by name.
  prometheusRules:: {
    'hello-requests': (import 'rules/hello-requests.libsonnet')(c),
    'hello-slo': (import 'rules/hello-slo.libsonnet')(c),
    'hello-target': (import 'rules/hello-target.libsonnet')(c),
    'hello-telemetry': (import 'rules/hello-telemetry.libsonnet')(c),
    'hello-workload': (import 'rules/hello-workload.libsonnet')(c),
    'otel-collector': (import 'rules/otel-collector.libsonnet')(c),
    fluentd: (import 'rules/fluentd.libsonnet')(c),
  },
  // Grafana dashboards by uid.
  grafanaDashboards:: {
    'hello-overview': (import 'dashboards/hello-overview.libsonnet')(c),
    'hello-telemetry': (import 'dashboards/hello-telemetry.libsonnet')(c),
  },
}
