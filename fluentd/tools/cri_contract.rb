# frozen_string_literal: true

# The contract between the service's stdout and the forwarder's config,
# checked in Ruby because fluentd's regexes are Ruby regexes and its time
# parsing is Ruby's (the `strptime` gem, same version 0.2.5 as in the image,
# from Debian's ruby-strptime). fluentd itself cannot run here.
#
# Every regex, time format, field name and separator comes from the parsed
# config (fluentconf.py dump), never from this file. The steps below mirror
# the fluentd code paths, transcribed from fluentd v1.19 and the plugin
# versions in ../plugins.txt:
#   in_tail + parser_regexp  -> named captures, time_key removed, time parsed
#   Fluent::TimeParser / MixedTimeParser (lib/fluent/time.rb)
#   filter_concat, partial_cri mode (fluent-plugin-concat 2.6)
#   filter_parser + parser_json (reserve_data, reserve_time, keep_time_key)
#
# Usage: ruby cri_contract.rb FORWARDER.json AGGREGATOR.json CRI.log STDOUT.txt TIME_SAMPLES.txt MAX_LEN [require-partial]
#   MAX_LEN: the runtime's max line size the CRI file was written with;
#   require-partial: at least one line must exceed it (so P records are exercised).

require 'json'
require 'time'
require 'strptime'

$failures = 0
$checks = 0
def check(ok, what)
  $checks += 1
  if ok
    puts "  ok   #{what}"
  else
    $failures += 1
    puts "  FAIL #{what}"
  end
end

def walk(el, &blk)
  yield el
  el['children'].each { |c| walk(c, &blk) }
end

def find_all(root, name, type)
  out = []
  walk(root) { |e| out << e if e['name'] == name && e['params']['@type'] == type }
  out
end

def child(el, name)
  el['children'].find { |c| c['name'] == name }
end

def bool(v)
  v == 'true'
end

# fluentd's :regexp config type: "/body/flags".
def config_regexp(str)
  m = %r{\A/(.*)/([imx]*)\z}m.match(str) or raise "expression is not /.../: #{str}"
  opts = 0
  opts |= Regexp::IGNORECASE if m[2].include?('i')
  opts |= Regexp::MULTILINE if m[2].include?('m')
  opts |= Regexp::EXTENDED if m[2].include?('x')
  Regexp.new(m[1], opts)
end

# Fluent::TimeParser for one format (formats here all carry a zone, so the
# localtime/offset branches do not apply; anything else is refused).
def time_parser_for(format)
  raise "time_format without %z/%Z: #{format}" unless format.include?('%z') || format.include?('%Z')
  strptime = (Strptime.new(format) rescue nil)
  if strptime
    ->(v) { t = strptime.exec(v); [t.to_i, t.nsec] }
  else
    ->(v) { t = Time.strptime(v, format); [t.to_i, t.nsec] }
  end
end

# time_type string -> TimeParser; mixed -> MixedTimeParser (first that parses).
def time_parser(parse_section)
  p = parse_section['params']
  formats = [p['time_format']]
  if p['time_type'] == 'mixed'
    formats += p.fetch('time_format_fallbacks', '').split(',').map(&:strip).reject(&:empty?)
  elsif p['time_type'] && p['time_type'] != 'string'
    raise "time_type #{p['time_type']} not supported by this check"
  end
  parsers = formats.compact.map { |f| time_parser_for(f) }
  lambda do |v|
    parsers.each do |pr|
      begin
        return pr.call(v)
      rescue StandardError
        next
      end
    end
    raise ArgumentError, "invalid time format: value = #{v}"
  end
end

# An independent reading of an RFC 3339 string, to compare event times with.
def rfc3339_ns(str)
  m = /\A(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)\z/.match(str) or return nil
  off = m[8] == 'Z' ? 0 : (m[8][0] == '-' ? -1 : 1) * (m[8][1, 2].to_i * 3600 + m[8][4, 2].to_i * 60)
  sec = Time.utc(m[1].to_i, m[2].to_i, m[3].to_i, m[4].to_i, m[5].to_i, m[6].to_i).to_i - off
  [sec, (m[7] || '0').ljust(9, '0').to_i]
end

fwd = JSON.parse(File.read(ARGV[0]))
agg = JSON.parse(File.read(ARGV[1]))
cri_lines = File.binread(ARGV[2]).split("\n", -1)
cri_lines.pop if cri_lines.last == ''
stdout_lines = File.binread(ARGV[3]).split("\n").reject(&:empty?)
time_samples = File.read(ARGV[4]).lines.map(&:split)
max_len = Integer(ARGV[5])
over = stdout_lines.count { |l| l.bytesize > max_len }

tail = find_all(fwd, 'source', 'tail').first or abort 'no tail source in the forwarder config'
cri_parse = child(tail, 'parse')
concat = find_all(fwd, 'filter', 'concat').first or abort 'no concat filter'
json_filter = find_all(fwd, 'filter', 'parser').first or abort 'no parser filter'
json_parse = child(json_filter, 'parse')
kafka = find_all(agg, 'match', 'kafka2').first or abort 'no kafka2 output in the aggregator config'

cp = cri_parse['params']
cc = concat['params']
jf = json_filter['params']
jp = json_parse['params']
puts "  config: CRI regex #{cp['expression']}"
puts "  config: CRI time #{cp['time_format']} (+ #{cp['time_format_fallbacks'] || 'no fallback'}); " \
     "app time #{jp['time_key']} #{jp['time_format']}"

# --- the config's own consistency (names flow from one stage to the next)
cri_re = config_regexp(cp['expression'])
groups = cri_re.names
time_key = cp['time_key'] || 'time'
check(cp['@type'] == 'regexp', 'the tail source parses with a regexp read from the config')
check(groups.include?(time_key), "CRI regex captures the time key #{time_key}")
check(groups.include?(cc['key']), "CRI regex captures concat's key #{cc['key']}")
check(groups.include?(cc['partial_cri_logtag_key']), "CRI regex captures concat's logtag key #{cc['partial_cri_logtag_key']}")
check(groups.include?(cc['stream_identity_key']), "CRI regex captures concat's stream_identity_key #{cc['stream_identity_key']}")
check(!groups.include?(cc['partial_cri_stream_key']),
      "concat's partial_cri_stream_key (#{cc['partial_cri_stream_key']}) is deleted by concat, so it must not be a captured field")
check(bool(cc['use_partial_cri_logtag']), 'concat joins CRI partial records (use_partial_cri_logtag)')
check(jf['key_name'] == cc['key'], "the JSON parser reads the joined field (#{jf['key_name']})")
check(bool(jf['reserve_data']), 'non-JSON lines are kept (reserve_data true)')
check(!bool(jf['reserve_time']), "the app's time becomes the event time (reserve_time false)")
check(bool(jp['keep_time_key']), "the record keeps #{jp['time_key']} (keep_time_key true)")

# --- tail path / exclude_path against kubelet's file names
cid = 'a' * 64
hello_file = "/var/log/containers/hello-7d9f8b6c5d-x2x9z_hello_hello-#{cid}.log"
own_files = ["/var/log/containers/fluentd-forwarder-k8q2p_logging_fluentd-#{cid}.log",
             "/var/log/containers/fluentd-aggregator-0_logging_fluentd-#{cid}.log"]
excludes = JSON.parse(tail['params'].fetch('exclude_path', '[]'))
globbed = lambda do |f|
  tail['params']['path'].split(',').any? { |p| File.fnmatch(p.strip, f, File::FNM_PATHNAME) } &&
    excludes.none? { |p| File.fnmatch(p, f, File::FNM_PATHNAME) }
end
check(globbed.call(hello_file), 'tail path picks up the hello pod\'s log file')
check(own_files.none?(&globbed), 'tail exclude_path skips fluentd\'s own log files')

# --- time formats against the strings containerd / CRI-O / the service write
cri_time = time_parser(cri_parse)
time_samples.each do |sec, nsec, str|
  got = (cri_time.call(str) rescue nil)
  check(got == [sec.to_i, nsec.to_i], "CRI time #{str} -> #{got.inspect}")
end
crio = '2026-11-26T17:03:12.120000000+00:00' # CRI-O: fixed 9 digits, numeric zone
check((cri_time.call(crio) rescue nil) == rfc3339_ns(crio), "CRI-O time #{crio}")

# --- in_tail + regexp parser + concat + filter parser, record by record
app_time = time_parser(json_parse)
tag = 'kubernetes.var.log.containers.hello-7d9f8b6c5d-x2x9z_hello_hello-' + cid + '.log'
buffers = Hash.new { |h, k| h[k] = [] }
events = []
unmatched = 0
partial_records = 0
cri_lines.each do |line|
  m = cri_re.match(line)
  unless m
    unmatched += 1
    next
  end
  rec = m.names.zip(m.captures).to_h
  t = cri_time.call(rec.delete(time_key)) # keep_time_key false (default)
  # concat (partial_cri): buffer per tag:stream until a record tagged F.
  sid = "#{tag}:#{rec[cc['stream_identity_key']]}"
  buffers[sid] << [t, rec]
  partial_records += 1 if rec[cc['partial_cri_logtag_key']].split(':')[0] == 'P'
  next unless rec[cc['partial_cri_logtag_key']].split(':')[0] == 'F'

  parts = buffers.delete(sid)
  sep = cc.key?('separator') ? cc['separator'] : "\n"
  joined = parts.first[1].merge(cc['key'] => parts.map { |_, r| r[cc['key']] }.join(sep))
  joined = rec.merge(joined)
  joined.delete(cc['partial_cri_logtag_key'])
  joined.delete(cc['partial_cri_stream_key'])
  events << [t, joined, parts.size]
end
check(unmatched.zero?, "every CRI record matches the config's regex (#{cri_lines.size} records, #{unmatched} unmatched)")
check(buffers.values.all?(&:empty?), 'no partial record is left waiting for its F record')
check(ARGV[6] != 'require-partial' || over.positive?,
      "#{over} of the service's lines exceed the runtime's #{max_len}-byte line limit")
check(partial_records.positive? == over.positive?, "lines over #{max_len} bytes came as P records (#{partial_records} P records)")

parsed = []
plain = []
events.each do |t, rec, nparts|
  raw = rec[jf['key_name']]
  values = (JSON.parse(raw) rescue nil)
  unless values.is_a?(Hash)
    plain << rec # reserve_data: passes unchanged
    next
  end
  tv = values[jp['time_key']]
  et = begin
    app_time.call(tv)
  rescue StandardError
    nil # fluentd: ParserError -> the record is dropped, even with reserve_data
  end
  next parsed << [nil, rec, values, nparts, raw] unless et

  values.delete(jp['time_key']) unless bool(jp['keep_time_key'])
  et = t if bool(jf['reserve_time'])
  out = rec.dup
  out.delete(jf['key_name']) if bool(jf['remove_key_name_field'])
  parsed << [et, out.merge(values), values, nparts, raw]
end

check(parsed.size == stdout_lines.size,
      "every stdout line of the service became one JSON record (#{parsed.size} of #{stdout_lines.size})")
check(parsed.all? { |et, *| et }, "every app #{jp['time_key']} parses with the config's time format (else fluentd drops the line)")
joined_raw = parsed.map { |p| p[4] }
check(joined_raw == stdout_lines, 'the joined records are byte-for-byte the lines the service wrote, in order')
long = parsed.select { |p| p[3] > 1 }
check(long.size == over && long.all? { |p| p[4].bytesize > max_len },
      "each of the #{over} lines over #{max_len} bytes was re-joined (from up to #{long.map { |p| p[3] }.max || 1} CRI records)")
check(plain.any? { |r| r['stream'] == 'stderr' && r[jf['key_name']] },
      "non-JSON lines pass through with #{jf['key_name']} and stream kept")

events_ok = parsed.select(&:first)
check(events_ok.all? { |et, _, v| et == rfc3339_ns(v[jp['time_key']]) },
      "event time == the line's #{jp['time_key']} to the nanosecond")
check(events_ok.all? { |_, out, v| v.all? { |k, val| out[k] == val } },
      'every field of the line is in the record (nothing renamed or dropped)')
check(events_ok.all? { |_, out| out['stream'] == 'stdout' && !out.key?(cc['partial_cri_logtag_key']) },
      "records keep stream=stdout and lose the CRI #{cc['partial_cri_logtag_key']}")

# --- DESIGN.md log fields, as the records carry them
vals = events_ok.map { |p| p[2] }
levels = %w[TRACE DEBUG INFO WARN ERROR]
check(vals.all? { |v| v[jp['time_key']].is_a?(String) && v[jp['time_key']].match?(/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z\z/) },
      "#{jp['time_key']} is RFC 3339 UTC with nanoseconds")
check(vals.all? { |v| levels.include?(v['level']) && v['target'].is_a?(String) && v.key?('message') },
      'every line has level (TRACE..ERROR), target, message')
access_keys = %w[http.request.method url.path http.route http.response.status_code duration_ms user_agent.original]
access = vals.select { |v| v.key?('http.response.status_code') }
check(access.any? && access.all? { |v| access_keys.all? { |k| v.key?(k) } },
      "access-log lines carry #{access_keys.join(', ')} (#{access.size} lines)")
key = kafka['params']['message_key_key']
check(access.all? { |v| v[key].to_s.match?(/\A[0-9a-f]{32}\z/) && v['span_id'].to_s.match?(/\A[0-9a-f]{16}\z/) },
      "access-log lines carry #{key} (the Kafka message key) and span_id as W3C hex")
check(access.any? { |v| v['http.response.status_code'].to_s == '500' }, 'the error request (/v1/status/500) is in the records')

puts "  #{$checks - $failures} passed, #{$failures} failed"
exit($failures.zero? ? 0 : 1)
