--- rstlab.report.json: JSON Lines for tools in any language (`--json FILE`,
-- `--json -` for stdout), streamed: a start object, one result object per
-- scenario as it finishes, a summary object. Every line is written (and
-- flushed by the runner) as soon as it is known, so a tool can follow a
-- running suite. The schema (every field, its type, when it is present)
-- is doc/json.md; SCHEMA and VERSION below are in every object.
--
-- The text is made by core.json_encode (libjansson). Strings that are not
-- valid UTF-8 (a script's message may quote raw bytes) have each bad byte
-- replaced by U+FFFD, and the object says so: "replaced_utf8": true.

local core = require "rstlab.core"
local common = require "rstlab.report.common"
local tcpflags = require "rstlab.tcpflags"

local M = {
  name = "json", option = "--json", arg = "FILE", dash = true,
  help = "JSON Lines as scenarios finish, then a summary (FILE\nor - for stdout; schema: doc/json.md)",
  -- The packets of every scenario only with --json-packets.
  packets = function(o) return o.json_packets end,
  options = {
    { long = "--json-packets", help = "put every scenario's captured packets in --json",
      set = function(o) o.json_packets = true end },
  },
}

M.SCHEMA, M.VERSION = "rstlab-results", 1

-- An empty table that encodes as {} (json_encode writes [] for an empty
-- table by default).
local OBJECT = { __json = "object" }

--- check(o) -> nil | message: what is wrong with the options of this format.
function M.check(o)
  if o.json_packets and not o.json then return "--json-packets needs --json FILE" end
  if o.json == "" then return "--json needs a FILE (or - for stdout)" end
end

--- encode(obj) -> one line of JSON with its newline. Strings that are not
-- valid UTF-8 are mended (U+FFFD per bad byte) and obj.replaced_utf8 set.
function M.encode(obj)
  local s, err = core.json_encode(obj)
  if not s and err:find("not valid UTF-8", 1, true) then
    obj.replaced_utf8 = true
    s, err = core.json_encode(obj, { invalid_utf8 = "replace" })
  end
  if not s then error("json report: " .. err, 0) end
  return s .. "\n"
end

local function head(kind)
  return { schema = M.SCHEMA, version = M.VERSION, type = kind }
end

-- "127.0.0.1:80" -> "127.0.0.1"; "[::1]:80" -> "::1".
local function addr_of(ep)
  return ep:match("^%[(.*)%]:%d+$") or ep:match("^(.*):%d+$") or ep
end

--- packet(p, mark) -> a packet object (doc/json.md, "packet").
function M.packet(p, mark)
  local o = {
    index = p.index, t = p.t, ts = p.ts,
    src = p.src, dst = p.dst, saddr = addr_of(p.src), daddr = addr_of(p.dst),
    sport = p.sport, dport = p.dport,
    flags = tcpflags.letters(p.flags), seq = p.seq, ack = p.ack, len = p.len, win = p.win,
    ttl = p.ttl, mss = p.mss, wscale = p.wscale, sackok = p.sackok, tsval = p.tsval, tsecr = p.tsecr,
    iface = p.iface, injected = p.injected == true,
    reason = p.reason, reason_unknown = p.reason_unknown, expect = mark,
  }
  if p.sack and #p.sack > 0 then
    o.sack = {}
    for i, b in ipairs(p.sack) do o.sack[i] = { b[1], b[2] } end
  end
  return o
end

--- capture(cap) -> a capture object (doc/json.md, "capture").
function M.capture(cap)
  local o = { name = cap.name, binds = setmetatable({}, OBJECT), packets = {},
    failed = cap.failed, truncated = cap.truncated }
  for k, v in pairs(cap.binds or {}) do o.binds[k] = tostring(v) end
  for i, p in ipairs(cap.packets or {}) do o.packets[i] = M.packet(p, cap.marks and cap.marks[i]) end
  return o
end

--- result(r, opts) -> a result object (doc/json.md, "result"). opts:
-- { packets = put the captures in, round = the round of a repeated run }.
function M.result(r, opts)
  opts = opts or {}
  local o = head("result")
  o.file, o.name, o.decl, o.rank = r.file, r.name, r.decl, r.rank
  o.status = r.status
  o.timeout = r.timeout == true
  o.duration = r.duration or 0
  o.round = opts.round
  if r.status ~= "pass" then
    o.message = tostring(r.message or "")
    o.first_line = common.first_line(r)
  end
  o.where = r.where
  if r.details and r.details ~= "" then o.details = r.details end
  if r.traceback and r.traceback ~= "" then o.traceback = r.traceback end
  o.logs = r.logs or {}
  o.unchecked = r.unchecked or {}
  o.pcaps = r.pcaps or {}
  o.programs = {}
  for i, p in ipairs(r.programs or {}) do
    o.programs[i] = { argv = p.argv, pid = p.pid, status = p.status, timed_out = p.timed_out == true,
      timeout = p.timeout, stdout = p.stdout, stderr = p.stderr,
      stdout_bytes = p.stdout_bytes, stderr_bytes = p.stderr_bytes }
  end
  if opts.packets then
    o.captures = {}
    for i, cap in ipairs(r.captures or {}) do o.captures[i] = M.capture(cap) end
  end
  return o
end

--- start(n, opts) -> the first object: the run and how many scenarios it
-- will run.
function M.start_object(n, opts)
  local o = head("start")
  o.rstlab = tostring(core.version)
  o.scenarios = n
  o.rounds = opts.rounds ~= math.huge and opts.rounds or core.json_null
  o.until_fail = opts.until_fail == true
  o.packets = opts.packets == true
  o.started = common.isodate(opts.started) .. "Z"
  o.hostname = opts.hostname
  return o
end

--- summary_object(summary) -> the last object (doc/json.md, "summary").
function M.summary_object(s)
  local o = head("summary")
  o.passed, o.failed, o.errors, o.skipped = s.passed or 0, s.failed or 0, s.errors or 0, s.skipped or 0
  o.total = #(s.results or {})
  o.duration = s.duration or 0
  o.rounds, o.attempts = s.rounds, s.attempts
  o.interrupted = s.interrupted or core.json_null
  o.stopped = s.stopped == true
  o.not_finished = s.not_finished or 0
  o.not_run = {}
  for i, w in ipairs(s.not_run or {}) do o.not_run[i] = { file = w.file, name = w.name, why = w.why } end
  o.flaky = {}
  for i, r in ipairs(s.flaky or {}) do o.flaky[i] = { file = r.file, name = r.name, attempts = r.attempts } end
  o.ok = (s.failed or 0) == 0 and not s.interrupted
  return o
end

--- stream(write, opts) -> a streamer (see report/tap.lua): start(n) writes
-- the start object, result(r) one result object as each scenario (each
-- attempt, when repeating: r.round says which) finishes, finish(summary) the summary object.
-- opts: { rounds, options = the run's options (json_packets, until_fail),
-- started, hostname }.
function M.stream(write, opts)
  local o = opts.options or {}
  local st = {}
  function st.start(n)
    write(M.encode(M.start_object(n, { rounds = opts.rounds, until_fail = o.until_fail,
      packets = o.json_packets, started = opts.started, hostname = opts.hostname })))
  end
  function st.result(r)
    write(M.encode(M.result(r, { packets = o.json_packets,
      round = (opts.rounds or 1) > 1 and r.round or nil })))
  end
  function st.finish(summary)
    write(M.encode(M.summary_object(summary)))
  end
  return st
end

--- document(summary [, opts]) -> the whole JSON Lines text of a finished
-- run (what the stream writes, at once; for scripts and tests).
function M.document(summary, opts)
  opts = opts or {}
  local out = {}
  local st = M.stream(function(s) out[#out + 1] = s end,
    { options = opts, started = summary.started, hostname = summary.hostname })
  st.start(#summary.results)
  for _, r in ipairs(common.sorted(summary.results)) do st.result(r) end
  st.finish(summary)
  return table.concat(out)
end

return M
