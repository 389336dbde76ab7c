--- rstlab.runner.select: which scenarios a run runs. The files of the
--- paths given (collect), then the scenarios they declare kept by --filter,
--- left out by --exclude, and split by --shard (pick).

local core = require "rstlab.core"

local M = {}

-- "./a//b.lua" -> "a/b.lua": one spelling of a path, for sorting and shards.
local function norm_path(p)
  p = p:gsub("/+", "/")
  while p:sub(1, 2) == "./" and #p > 2 do p = p:sub(3) end
  return p
end

-- Every *.lua file under dir (recursively), in a stable order.
local function walk(dir, add)
  local entries = core.listdir(dir)
  if not entries then return end
  table.sort(entries, function(a, b) return a.name < b.name end)
  for _, e in ipairs(entries) do
    local path = dir:gsub("/+$", "") .. "/" .. e.name
    if e.dir then
      walk(path, add)
    elseif e.name:match("%.lua$") then
      add(norm_path(path))
    end
  end
end

--- collect(paths) -> list of files: the *.lua files of the arguments (a
--- directory means the files under it), sorted, each once. A path that
--- cannot be read is an entry { path, error }, so the others still run.
function M.collect(paths)
  local files, seen = {}, {}
  local function add(entry)
    local key = type(entry) == "table" and entry.path or entry
    if not seen[key] then
      seen[key] = true
      files[#files + 1] = entry
    end
  end
  for _, p in ipairs(paths) do
    p = norm_path(p)
    local f, err = io.open(p, "r")
    if not f then
      add({ path = p, error = err })
    else
      local _, _, code = f:read(0)
      f:close()
      if code == 21 then -- EISDIR
        walk(p, add)
      else
        add(p)
      end
    end
  end
  local function key(e) return type(e) == "table" and e.path or e end
  table.sort(files, function(a, b) return key(a) < key(b) end)
  return files
end

--- shard_of(file, name, n) -> 1..n: the shard of a scenario, from the FNV-1a
--- hash of "file\0name" (stable across runs, machines and suite edits).
function M.shard_of(file, name, n)
  local h = 0x811c9dc5
  for i = 1, #file do h = ((h ~ file:byte(i)) * 0x01000193) & 0xFFFFFFFF end
  h = (h * 0x01000193) & 0xFFFFFFFF -- the "\0" between them
  for i = 1, #name do h = ((h ~ name:byte(i)) * 0x01000193) & 0xFFFFFFFF end
  return h % n + 1
end

--- matcher(patterns [, none]) -> function(text) -> bool: case-insensitive
--- substring matching where * stands for any run of characters, true when
--- any pattern matches; no patterns: `none` (default true).
function M.matcher(patterns, none)
  if #patterns == 0 then
    if none == nil then none = true end
    return function() return none end
  end
  local lua = {}
  for i, p in ipairs(patterns) do
    lua[i] = p:lower():gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*")
  end
  return function(text)
    text = text:lower()
    for _, p in ipairs(lua) do
      if text:find(p) then return true end
    end
    return false
  end
end

--- pick(items, o) -> kept, why: the items ({ file, name, ... }) that
--- o.filters keeps, o.excludes leaves, and o.shard = { K, N } holds, in
--- order; when none is kept, why says which step left nothing.
function M.pick(items, o)
  local keep = M.matcher(o.filters or {})
  local drop = M.matcher(o.excludes or {}, false)
  local kept, n_filtered, n_left = {}, 0, 0
  for _, w in ipairs(items) do
    local title = w.file .. ": " .. w.name
    if keep(title) then
      n_filtered = n_filtered + 1
      if not drop(title) then
        n_left = n_left + 1
        if not o.shard or M.shard_of(w.file, w.name, o.shard[2]) == o.shard[1] then
          kept[#kept + 1] = w
        end
      end
    end
  end
  local why
  if #kept == 0 then
    if #items == 0 then
      why = "no scenario file found (no *.lua file in the paths given)"
    elseif n_filtered == 0 then
      why = string.format("--filter matches none of the %d scenarios", #items)
    elseif n_left == 0 then
      why = string.format("--exclude leaves out all %d scenarios that --filter keeps", n_filtered)
    else
      why = string.format("shard %d/%d holds none of the %d scenarios selected", o.shard[1], o.shard[2], n_left)
    end
  end
  return kept, why
end

return M
