// Is Prometheus scraping hello at all?
local lib = import '../lib.libsonnet';
function(c)
  lib.prometheusRule('hello-target', c.namespace, lib.helloRuleLabels, [{
    name: 'hello.target.alerts',
    rules: [
      {
        alert: 'HelloTargetDown',
        expr: 'up{%s} == 0' % c.jobSelector,
        'for': '5m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Prometheus cannot scrape a hello pod.',
          description: 'The scrape of {{ $labels.pod }} ({{ $labels.instance }}) in {{ $labels.namespace }} has failed for 5 minutes.',
          runbook_url: c.runbook('hellotargetdown'),
        },
      },
      // absent() also covers "the job never existed": a typo in the ServiceMonitor
      // produces no up series at all, so up == 0 alone would stay silent. absent() keeps
      // only the equality matchers' labels, so namespace and job are set here.
      {
        alert: 'HelloTargetAbsent',
        expr: 'absent(up{%s} == 1)' % c.jobSelector,
        'for': '10m',
        labels: { severity: 'critical', namespace: c.namespace, job: c.job },
        annotations: {
          summary: 'No hello target is up in Prometheus.',
          description: ('Prometheus has had no successfully scraped target for job %s for 10 minutes: '
                        + 'the service is down or not discovered, and every other hello alert is blind.') % c.job,
          runbook_url: c.runbook('hellotargetabsent'),
        },
      },
    ],
  }]) + {
    header:: |||
      Is Prometheus scraping hello at all? One pod failing its scrape is a warning;
      no healthy target for the job (all pods down, ServiceMonitor not selecting the Service,
      wrong port name, NetworkPolicy blocking Prometheus) pages, because then every other
      hello alert is blind.
    |||,
  }
