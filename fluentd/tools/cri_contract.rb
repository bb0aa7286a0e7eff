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
#   filter_parser (lib/fluent/plugin/filter_parser.rb, every parser filter of
#   the @KUBERNETES label in config order) with parser_regexp / parser_json,
#   Parser#parse_time, and Filter#filter_stream (an exception drops the
#   record and reports it to @ERROR)
#
# Usage: ruby cri_contract.rb FORWARDER.json AGGREGATOR.json CRI.log STDOUT.txt TIME_SAMPLES.txt MAX_LEN \
#            OTHER_CRI.log OTHER_LINES.txt [require-partial]
#   MAX_LEN: the runtime's max line size the CRI file was written with;
#   OTHER_CRI.log / OTHER_LINES.txt: another container's JSON lines (odd or
#   missing timestamps) and the CRI file written from them;
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
other_cri_lines = File.binread(ARGV[6]).split("\n").reject(&:empty?)
other_lines = File.binread(ARGV[7]).split("\n").reject(&:empty?)
require_partial = ARGV[8] == 'require-partial'
over = stdout_lines.count { |l| l.bytesize > max_len }

tail = find_all(fwd, 'source', 'tail').first or abort 'no tail source in the forwarder config'
cri_parse = child(tail, 'parse')
concat = find_all(fwd, 'filter', 'concat').first or abort 'no concat filter'
parser_filters = find_all(fwd, 'filter', 'parser')
abort 'no parser filter' if parser_filters.empty?
json_filter = parser_filters.find { |f| child(f, 'parse')['params']['@type'] == 'json' } or abort 'no json parser filter'
json_parse = child(json_filter, 'parse')
# the filter whose parser reads the app's time (time_key is a field it captures or parses)
time_filter = parser_filters.find { |f| child(f, 'parse')['params']['time_format'] } or abort 'no parser filter reads a time'
time_parse = child(time_filter, 'parse')
kafka = find_all(agg, 'match', 'kafka2').first or abort 'no kafka2 output in the aggregator config'

cp = cri_parse['params']
cc = concat['params']
jf = json_filter['params']
jp = json_parse['params']
puts "  config: CRI regex #{cp['expression']}"
puts "  config: CRI time #{cp['time_format']} (+ #{cp['time_format_fallbacks'] || 'no fallback'}); " \
     "app time from #{time_filter['params']['@id']} (#{time_parse['params']['@type']}) #{time_parse['params']['time_format']}"

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
check(parser_filters.all? { |f| f['params']['key_name'] == cc['key'] }, "the parser filters read the joined field (#{cc['key']})")
check(parser_filters.all? { |f| bool(f['params']['reserve_data']) }, 'records a parser does not match are kept (reserve_data true everywhere)')

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
check(!require_partial || over.positive?,
      "#{over} of the service's lines exceed the runtime's #{max_len}-byte line limit")
check(partial_records.positive? == over.positive?, "lines over #{max_len} bytes came as P records (#{partial_records} P records)")

# --- filter_parser, as fluentd runs it (one filter after the other).
class ParserError < StandardError; end
NOW = :parse_time_now # Fluent::EventTime.now: never the CRI time nor the app's

def time_reader(pp)
  return nil unless pp['time_format']
  time_parser('params' => pp)
end

# Parser#parse_time: nil, NOW, or [sec, nsec]; raises ParserError.
def parse_time(pp, values, reader)
  tk = pp.fetch('time_key', pp['@type'] == 'json' ? 'time' : nil)
  if tk && values.key?(tk)
    src = bool(pp['keep_time_key']) ? values[tk] : values.delete(tk)
    begin
      return reader.call(src) if reader
      raise ParserError, "value must be string: #{src}" unless src.is_a?(String)
      t = Time.parse(src) # fluentd's TimeParser without a time_format
      return [t.to_i, t.nsec]
    rescue StandardError => e
      raise ParserError, e.message
    end
  end
  pp.fetch('estimate_current_event', 'true') == 'true' ? NOW : nil
end

# parser_regexp / parser_json: the first (time, values) they yield, or
# [nil, nil] (no match / not a JSON object), or :none (nothing yielded).
def run_parser(pp, raw, reader, re)
  case pp['@type']
  when 'regexp'
    m = re.match(raw) # a non-String raw value raises, as in fluentd
    return [nil, nil] unless m
    values = m.names.map { |n| [n, m[n]] }.reject { |_, v| v.nil? }.to_h
    [parse_time(pp, values, reader), values]
  when 'json'
    raise TypeError, "no implicit conversion of #{raw.class} into String" unless raw.is_a?(String)
    doc = begin
      JSON.parse(raw)
    rescue JSON::ParserError, EncodingError
      return [nil, nil]
    end
    if doc.is_a?(Hash)
      [parse_time(pp, doc, reader), doc]
    elsif doc.is_a?(Array)
      return :none if doc.empty?
      doc.first.is_a?(Hash) ? [parse_time(pp, doc.first, reader), doc.first] : [nil, nil]
    else
      [nil, nil]
    end
  else
    raise "parser #{pp['@type']} not modelled by this check"
  end
end

# filter_with_time + filter_stream: [time, record] or nil (dropped); a record
# reported to @ERROR is appended to `reported` with whether it went on.
def filter_parser(f, t, rec, reported)
  fp = f['params']
  pp = child(f, 'parse')['params']
  @readers ||= {}
  reader = (@readers[f['params']['@id']] ||= [time_reader(pp)]).first
  re = pp['@type'] == 'regexp' ? config_regexp(pp['expression']) : nil
  emit = fp.fetch('emit_invalid_record_to_error', 'true') == 'true'
  raw = rec[fp['key_name']]
  if raw.nil?
    reported << [rec, bool(fp['reserve_data'])] if emit
    return bool(fp['reserve_data']) ? [t, rec] : nil
  end
  begin
    pt, values = run_parser(pp, raw, reader, re.nil? ? nil : re)
  rescue StandardError
    reported << [rec, false] if emit # raised, and filter_stream reports it; dropped
    return nil
  end
  return nil if pt == :none
  unless values
    reported << [rec, bool(fp['reserve_data'])] if emit
    return bool(fp['reserve_data']) ? [t, rec] : nil
  end
  nt = bool(fp['reserve_time']) ? t : (pt.nil? ? t : pt)
  rec = rec.dup
  rec.delete(fp['key_name']) if bool(fp['remove_key_name_field'])
  [nt, bool(fp['reserve_data']) ? rec.merge(values) : values]
end

def pipeline(filters, events, reported)
  events.map do |t, rec, nparts|
    out = [t, rec]
    filters.each do |f|
      out = filter_parser(f, out[0], out[1], reported)
      break unless out
    end
    out && [out[0], out[1], t, rec[JOINED_KEY], nparts]
  end
end

# --- the service's stream and the plain stderr lines
JOINED_KEY = cc['key']
reported = []
shipped = pipeline(parser_filters, events, reported)
parsed = []
plain = []
dropped = 0
shipped.each do |o|
  next dropped += 1 unless o

  et, out, cri_t, raw, nparts = o
  if out.key?(jf['key_name'])
    plain << [et, out, cri_t]
  else
    parsed << [et, out, JSON.parse(raw), nparts, raw]
  end
end
check(dropped.zero?, "no record of the service's container is dropped (#{dropped} dropped)")
check(parsed.size == stdout_lines.size,
      "every stdout line of the service became one JSON record (#{parsed.size} of #{stdout_lines.size})")
check(parsed.all? { |et, *| et.is_a?(Array) }, 'every service line got its event time from its timestamp')
joined_raw = parsed.map { |p| p[4] }
check(joined_raw == stdout_lines, 'the joined records are byte-for-byte the lines the service wrote, in order')
long = parsed.select { |p| p[3] > 1 }
check(long.size == over && long.all? { |p| p[4].bytesize > max_len },
      "each of the #{over} lines over #{max_len} bytes was re-joined (from up to #{long.map { |p| p[3] }.max || 1} CRI records)")
check(plain.any? { |_, r| r['stream'] == 'stderr' && r[jf['key_name']] },
      "non-JSON lines pass through with #{jf['key_name']} and stream kept")
check(plain.all? { |et, _, cri_t| et == cri_t }, 'non-JSON lines keep the CRI time as event time')

events_ok = parsed.select(&:first)
check(events_ok.all? { |et, _, v| et == rfc3339_ns(v['timestamp']) },
      "event time == the line's timestamp to the nanosecond")
check(events_ok.all? { |_, out, v| v.all? { |k, val| out[k] == val } },
      'every field of the line is in the record (nothing renamed or dropped)')
check(events_ok.all? { |_, out| out['stream'] == 'stdout' && !out.key?(cc['partial_cri_logtag_key']) },
      "records keep stream=stdout and lose the CRI #{cc['partial_cri_logtag_key']}")

# --- the log fields the service documents, as the records carry them
vals = events_ok.map { |p| p[2] }
levels = %w[TRACE DEBUG INFO WARN ERROR]
check(vals.all? { |v| v['timestamp'].is_a?(String) && v['timestamp'].match?(/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z\z/) },
      'timestamp is RFC 3339 UTC with nanoseconds')
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


# --- another container's JSON lines: odd or missing timestamps
# Expected independently of the config: a line whose first key is
# "timestamp" holding a valid RFC 3339 time gets that time; every other
# line keeps the CRI time. Every line arrives exactly once, all fields
# unchanged.
def rfc3339_valid(str)
  m = /\A(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|([+-])(\d\d):(\d\d))\z/.match(str) or return false
  (1..12).cover?(m[2].to_i) && (1..31).cover?(m[3].to_i) && m[4].to_i < 24 && m[5].to_i < 60 && m[6].to_i < 60 &&
    (m[8] == 'Z' || (m[10].to_i < 24 && m[11].to_i < 60))
end

def expected_app_time(line)
  doc = JSON.parse(line)
  k, v = doc.first
  k == 'timestamp' && v.is_a?(String) && rfc3339_valid(v) ? rfc3339_ns(v) : nil
end

other_events = other_cri_lines.map do |line|
  m = cri_re.match(line) or next nil
  rec = m.names.zip(m.captures).to_h
  t = cri_time.call(rec.delete(time_key))
  rec.delete(cc['partial_cri_logtag_key'])
  [t, rec, 1]
end
check(other_events.size == other_lines.size && other_events.all?,
      "the other container's #{other_lines.size} lines are single F records the CRI regex matches")
other_reported = []
other_out = pipeline(parser_filters, other_events.compact, other_reported)
other_lines.each_with_index do |line, i|
  o = other_out[i]
  want_t = expected_app_time(line)
  label = line.size > 60 ? "#{line[0, 57]}..." : line
  unless o
    check(false, "other container: #{label} is dropped")
    next
  end
  et, out, cri_t = o
  fields_ok = JSON.parse(line).all? { |k, v| out.key?(k) && out[k] == v } && !out.key?(jf['key_name'])
  time_ok = want_t ? et == want_t : et == cri_t
  check(fields_ok && time_ok,
        "other container: #{label} arrives once, fields unchanged, event time = #{want_t ? 'its timestamp' : 'the CRI time'}")
end

# --- counting: every record shipped with the CRI time is reported to @ERROR
# (where the config counts it) exactly once; none shipped with its own time is.
error_label = fwd['children'].find { |c| c['name'] == 'label' && c['arg'] == '@ERROR' }
counter = error_label && error_label['children'].find do |c|
  c['name'] == 'match' && c['params']['@type'] == 'prometheus' &&
    c['children'].any? { |m| m['name'] == 'metric' && m['params']['type'] == 'counter' }
end
check(!counter.nil?, '<label @ERROR> counts the records reported there (prometheus counter)')
all_out = (shipped + other_out).compact
all_reported = reported + other_reported
cri_timed = all_out.select { |et, _, cri_t| et == cri_t }.map { |o| o[1] }
reported_ok = all_reported.select { |_, went_on| went_on }
check(all_reported.none? { |_, went_on| !went_on }, 'no record reported to @ERROR was dropped')
check(reported_ok.size == cri_timed.size && !cri_timed.empty?,
      "records shipped with the CRI time: #{cri_timed.size}, reported (counted): #{reported_ok.size}")
check(all_out.none? { |et, *| et == NOW }, 'no record gets the parse time as event time (estimate_current_event)')

# --- the time expression never accepts a string its time formats cannot
# parse to the same instant (else fluentd would drop that line)
tp = time_filter['params']
if child(time_filter, 'parse')['params']['@type'] == 'regexp'
  app_re = config_regexp(time_parse['params']['expression'])
  reader = time_parser(time_parse)
  rng = Random.new(16)
  tried = 0
  bad = []
  frac = ->(n) { n.zero? ? '' : ".#{Array.new(n) { rng.rand(10) }.join}" }
  zone = -> { ['Z', 'z', "+#{format('%02d', rng.rand(30))}:#{format('%02d', rng.rand(70))}", "-0#{rng.rand(10)}:00", '+0200', ''][rng.rand(6)] }
  20_000.times do
    ts = format('%04d-%02d-%02dT%02d:%02d:%02d', rng.rand(10_000), rng.rand(15), rng.rand(35), rng.rand(27), rng.rand(63), rng.rand(63)) +
         frac.call(rng.rand(13)) + zone.call
    m = app_re.match(%({"timestamp":"#{ts}"}))
    next unless m

    tried += 1
    got = (reader.call(m[time_parse['params']['time_key']]) rescue nil)
    bad << ts unless got && got == rfc3339_ns(ts)
  end
  check(tried > 1000 && bad.empty?,
        "#{tp['@id']}: every one of #{tried} matching random timestamps parses to its own instant" \
        "#{bad.empty? ? '' : " (not: #{bad.first(3).join(', ')})"}")
end

puts "  #{$checks - $failures} passed, #{$failures} failed"
exit($failures.zero? ? 0 : 1)
