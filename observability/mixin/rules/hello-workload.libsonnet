// The pods behind hello, seen from Kubernetes (kube-state-metrics, cAdvisor) and from the
// service's own gauges.
local lib = import '../lib.libsonnet';
function(c)
  local t = c.thresholds;
  local hpa = 'namespace="%s", horizontalpodautoscaler="%s"' % [c.namespace, c.workload];
  lib.prometheusRule('hello-workload', c.namespace, lib.helloRuleLabels, [{
    name: 'hello.workload.alerts',
    rules: [
      {
        alert: 'HelloPodCrashLooping',
        expr: |||
          max by (namespace, pod, container) (
            max_over_time(kube_pod_container_status_waiting_reason{%s, reason="CrashLoopBackOff"}[5m])
          ) >= 1
        ||| % c.podSelector,
        'for': '15m',
        labels: { severity: 'critical' },
        annotations: {
          summary: 'A hello container is crash-looping.',
          description: 'Container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} has been in CrashLoopBackOff for 15 minutes.',
          runbook_url: c.runbook('hellopodcrashlooping'),
        },
      },
      {
        alert: 'HelloPodRestarting',
        expr: |||
          increase(kube_pod_container_status_restarts_total{%s}[1h]) > %s
        ||| % [c.podSelector, lib.num(t.restartsPerHour)],
        labels: { severity: 'warning' },
        annotations: {
          summary: 'A hello container restarts repeatedly.',
          description: 'Container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} restarted {{ $value | humanize }} times in the last hour.',
          runbook_url: c.runbook('hellopodrestarting'),
        },
      },
      // Only meaningful when the HPA can scale at all (max > min).
      {
        alert: 'HelloHPAMaxedOut',
        expr: |||
          kube_horizontalpodautoscaler_status_current_replicas{%(hpa)s}
            >= on (namespace, horizontalpodautoscaler)
          kube_horizontalpodautoscaler_spec_max_replicas{%(hpa)s}
          and on (namespace, horizontalpodautoscaler)
          (
            kube_horizontalpodautoscaler_spec_max_replicas{%(hpa)s}
              > on (namespace, horizontalpodautoscaler)
            kube_horizontalpodautoscaler_spec_min_replicas{%(hpa)s}
          )
        ||| % { hpa: hpa },
        'for': '15m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'The hello HPA has been at its maximum replicas for 15 minutes.',
          description: 'HPA {{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} runs {{ $value }} replicas, its maximum: '
                       + 'it cannot add capacity if load grows further.',
          runbook_url: c.runbook('hellohpamaxedout'),
        },
      },
      // Working set is what the kernel OOM-kills and the kubelet evicts on.
      {
        alert: 'HelloMemoryNearLimit',
        expr: |||
          max by (namespace, pod, container) (container_memory_working_set_bytes{%(pods)s, container!="", container!="POD"})
            /
          max by (namespace, pod, container) (kube_pod_container_resource_limits{%(pods)s, resource="memory"})
            > %(ratio)s
        ||| % { pods: c.podSelector, ratio: lib.num(t.memoryLimitRatio) },
        'for': '15m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'A hello container uses more than %s %% of its memory limit.' % lib.num(t.memoryLimitRatio * 100),
          description: 'Container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} uses {{ $value | humanizePercentage }} '
                       + 'of its memory limit; above 100 % it is OOM-killed.',
          runbook_url: c.runbook('hellomemorynearlimit'),
        },
      },
      // hello_scratch_quota_bytes is the configured SCRATCH_QUOTA_BYTES, so no byte count is hard-coded.
      {
        alert: 'HelloScratchNearQuota',
        expr: |||
          %s{%s} / (%s{%s} > 0) > %s
        ||| % [c.metrics.scratchBytes.name, c.jobSelector, c.metrics.scratchQuota.name, c.jobSelector, lib.num(t.scratchUsedRatio)],
        'for': '5m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'hello scratch space is above %s %% of its quota.' % lib.num(t.scratchUsedRatio * 100),
          description: '{{ $labels.namespace }}/{{ $labels.pod }} uses {{ $value | humanizePercentage }} of SCRATCH_QUOTA_BYTES; '
                       + 'at 100 % writes fail with 507.',
          runbook_url: c.runbook('helloscratchnearquota'),
        },
      },
    ],
  }]) + {
    header:: |||
      The pods behind hello, seen from Kubernetes (kube-state-metrics, cAdvisor) and from the
      service's own gauges. Pods are selected by namespace and the Deployment's name prefix,
      because kube-state-metrics does not export pod labels by default.
    |||,
  }
