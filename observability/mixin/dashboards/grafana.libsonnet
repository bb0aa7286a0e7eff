// Plain-jsonnet builders for the few Grafana shapes the dashboards use (grafonnet cannot
// be fetched here). Every panel and query uses the ${datasource} variable.
{
  ds:: { type: 'prometheus', uid: '${datasource}' },

  link(title, url, tooltip=''):: {
    title: title,
    type: 'link',
    url: url,
    targetBlank: true,
    icon: 'doc',
    tags: [],
    asDropdown: false,
    includeVars: false,
    keepTime: false,
    tooltip: tooltip,
  },
  dashboardLink(title, uid):: self.link(title, '/d/' + uid) + { targetBlank: false, icon: 'dashboard', includeVars: true, keepTime: true },

  // A range query (timeseries); instant() for stat and table panels.
  target(refId, expr, legend):: { datasource: $.ds, refId: refId, expr: expr, legendFormat: legend, range: true },
  instant(refId, expr, legend):: self.target(refId, expr, legend) + { range: false, instant: true },
  // Targets A, B, C... from [expr, legend] pairs.
  targets(pairs):: [self.target(std.char(65 + i), pairs[i][0], pairs[i][1]) for i in std.range(0, std.length(pairs) - 1)],

  row(id, title, y):: {
    id: id,
    type: 'row',
    title: title,
    collapsed: false,
    panels: [],
    gridPos: { h: 1, w: 24, x: 0, y: y },
  },

  panel(id, type, title, gridPos, targets, unit=null, description='', links=[]):: {
    id: id,
    type: type,
    title: title,
    description: description,
    datasource: $.ds,
    gridPos: { h: gridPos[0], w: gridPos[1], x: gridPos[2], y: gridPos[3] },
    targets: targets,
    fieldConfig: { defaults: if unit == null then {} else { unit: unit }, overrides: [] },
    options: {},
    [if links != [] then 'links']: links,
  },
  timeseries(id, title, gridPos, targets, unit, description='', links=[]):: self.panel(id, 'timeseries', title, gridPos, targets, unit, description, links),
  stat(id, title, gridPos, targets, unit, description='', links=[]):: self.panel(id, 'stat', title, gridPos, targets, unit, description, links),

  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    hide: 0,
    refresh: 1,
    regex: '',
    options: [],
    includeAll: false,
    multi: false,
  },
  // label_values(selector, label) variable; multi adds "All" (.*).
  queryVariable(name, label, query, multi=false):: {
    name: name,
    label: label,
    type: 'query',
    datasource: $.ds,
    query: { query: query, refId: name + '-var' },
    hide: 0,
    refresh: 2,
    regex: '',
    sort: 1,
    options: [],
    includeAll: multi,
    multi: multi,
    [if multi then 'allValue']: '.*',
  },

  dashboard(uid, title, description, links, variables, panels):: {
    uid: uid,
    title: title,
    description: description,
    tags: ['hello'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    timezone: 'utc',
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    fiscalYearStartMonth: 0,
    liveNow: false,
    annotations: { list: [] },
    links: links,
    templating: { list: variables },
    panels: panels,
  },
}
