// Availability and latency SLOs as multiwindow multi-burn-rate alerts (Google SRE
// workbook, "Alerting on SLOs"): the ratio of bad requests over every window the alerts
// use is recorded once; each alert compares a long and a short window against
// factor x budget, and its texts quote exactly those windows (test.sh checks it).
local lib = import '../lib.libsonnet';
function(c)
  local d = c.metrics.requestDuration.name;
  local s = c.slo;
  local windows = lib.windows(s.burnRates);
  local pct(budget) = lib.num(budget * 100);
  local bucket = lib.num(s.latency.thresholdSeconds);
  local ms = lib.num(s.latency.thresholdSeconds * 1000);
  local gone(f) =
    if f == 1 then 'exactly at the end of the %d days' % s.periodDays
    else 'in about %d days' % std.floor(s.periodDays / f + 0.5);
  local burnExpr(ratio, b, budget) = |||
    %(r)s%(long)s > (%(f)s * %(budget)s)
    and
    %(r)s%(short)s > (%(f)s * %(budget)s)
  ||| % { r: ratio, long: b.long, short: b.short, f: lib.num(b.factor), budget: lib.num(budget) };

  lib.prometheusRule('hello-slo', c.namespace, lib.helloRuleLabels, [
    {
      name: 'hello.slo.rules',
      rules: [
        // When nothing failed the ratio is 0 (not absent), so dashboards and alerts see a value.
        {
          record: 'namespace_job:hello_slo_errors:ratio_rate' + w,
          expr: |||
            (
              sum by (namespace, job) (rate(%(d)s_count{
                %(sel)s, %(err)s}[%(w)s]))
              or
              0 * sum by (namespace, job) (rate(%(d)s_count{%(sel)s}[%(w)s]))
            )
            /
            sum by (namespace, job) (rate(%(d)s_count{%(sel)s}[%(w)s]))
          ||| % { d: d, sel: c.sloSelector, err: c.serverErrors, w: w },
        }
        for w in windows
      ] + [
        {
          record: 'namespace_job:hello_slo_slow:ratio_rate' + w,
          expr: |||
            1 - (
              sum by (namespace, job) (rate(%(d)s_bucket{%(sel)s, le="%(le)s"}[%(w)s]))
              /
              sum by (namespace, job) (rate(%(d)s_count{%(sel)s}[%(w)s]))
            )
          ||| % { d: d, sel: c.sloSelector, le: bucket, w: w },
        }
        for w in windows
      ],
    },
    {
      name: 'hello.slo.alerts',
      rules: [
        {
          alert: 'HelloErrorBudgetBurn' + b.suffix,
          expr: burnExpr('namespace_job:hello_slo_errors:ratio_rate', b, s.availability.budget),
          'for': b['for'],
          labels: { severity: b.severity, slo: s.availability.name },
          annotations: {
            summary: 'hello is burning its availability error budget %sx too fast (%s and %s windows).'
                     % [lib.num(b.factor), b.long, b.short],
            description: ('{{ $value | humanizePercentage }} of requests to {{ $labels.job }} in {{ $labels.namespace }} failed with 5xx '
                          + 'over the last %s (and more than %s x %s %% over the last %s too); at this rate the whole budget is gone %s.')
                         % [b.long, lib.num(b.factor), pct(s.availability.budget), b.short, gone(b.factor)],
            runbook_url: c.runbook(std.asciiLower('HelloErrorBudgetBurn' + b.suffix)),
          },
        }
        for b in s.burnRates
      ] + [
        {
          alert: 'HelloLatencyBudgetBurn' + b.suffix,
          expr: burnExpr('namespace_job:hello_slo_slow:ratio_rate', b, s.latency.budget),
          'for': b['for'],
          labels: { severity: b.severity, slo: s.latency.name },
          annotations: {
            summary: 'hello requests are slower than %s ms %sx more often than the latency SLO allows (%s and %s windows).'
                     % [ms, lib.num(b.factor), b.long, b.short],
            description: ('{{ $value | humanizePercentage }} of requests to {{ $labels.job }} in {{ $labels.namespace }} took longer '
                          + 'than %s ms over the last %s (and more than %s x %s %% over the last %s too; SLO: at most %s %% over %d days).')
                         % [ms, b.long, lib.num(b.factor), pct(s.latency.budget), b.short, pct(s.latency.budget), s.periodDays],
            runbook_url: c.runbook(std.asciiLower('HelloLatencyBudgetBurn' + b.suffix)),
          },
        }
        for b in s.burnRates
      ],
    },
  ]) + {
    header:: |||
      Availability and latency SLOs of hello, as multiwindow multi-burn-rate alerts
      (Google SRE workbook, "Alerting on SLOs").
        Availability: %(aobj)s %% of requests over %(days)d days are not 5xx  -> error budget %(abudget)s.
        Latency:      %(lobj)s %% of requests over %(days)d days finish in <= %(ms)s ms (bucket le="%(le)s")
                      -> budget %(lbudget)s of "slow" requests.
      SLO traffic excludes %(excluded)s: probes and scrapes are not users,
      and a failing probe is already covered by HelloTargetDown / pod alerts. The fault-injection
      routes (%(fault)s) DO count: drills must be able to burn budget.
      Ratios are aggregated per (namespace, job), i.e. over all pods of the service; when
      nothing failed the error ratio is 0 (not absent) so dashboards and alerts see a value.
    ||| % {
      aobj: lib.num(100 - s.availability.budget * 100),
      lobj: lib.num(100 - s.latency.budget * 100),
      abudget: lib.num(s.availability.budget),
      lbudget: lib.num(s.latency.budget),
      days: s.periodDays,
      ms: ms,
      le: bucket,
      excluded: std.join(', ', c.routesOf(s.excludedRouteClasses)),
      fault: std.join(', ', c.routesOf(['fault'])),
    },
  }
