-- Makes the seed corpus of the fuzz targets (tests/fuzz/corpus/*):
--
--   lua5.4 tests/fuzz/make_seeds.lua PCAP... 
--
-- decode/: every frame of the given pcap files (and of tests/data/*.pcap),
--   each also re-wrapped in every link type fuzz_decode knows (the first
--   byte of a seed picks the link type, as in fuzz_decode.c), plus a VLAN
--   tagged copy; expect/: the expectation texts of scripts/*.lua and
--   tests/lua/*.lua, and one text per clause; addr/: address texts.
-- Run from the source tree; existing seeds are overwritten, none removed.

local out = "tests/fuzz/corpus"

local function write(dir, name, data)
  os.execute("mkdir -p " .. out .. "/" .. dir)
  local f = assert(io.open(out .. "/" .. dir .. "/" .. name, "wb"))
  f:write(data)
  f:close()
end

-- the index of each link type in fuzz_decode.c's table
local IDX = { EN10MB = 0, SLL = 1, SLL2 = 2, RAW = 3, RAWFILE = 4, IPV4 = 5, IPV6 = 6,
  NULL = 7, LOOP = 8 }
local FROM_DLT = { [1] = "EN10MB", [113] = "SLL", [276] = "SLL2", [12] = "RAW", [14] = "RAW",
  [101] = "RAWFILE", [228] = "IPV4", [229] = "IPV6", [0] = "NULL", [108] = "LOOP" }

local function read_pcap(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  local magic = string.unpack("<I4", s)
  local e = (magic == 0xa1b2c3d4 or magic == 0xa1b23c4d) and "<" or ">"
  local linktype = string.unpack(e .. "I4", s, 21)
  local frames, pos = {}, 25
  while pos + 16 <= #s do
    local incl = string.unpack(e .. "I4", s, pos + 8)
    frames[#frames + 1] = s:sub(pos + 16, pos + 15 + incl)
    pos = pos + 16 + incl
  end
  return FROM_DLT[linktype], frames
end

-- The IP packet inside a frame of a link type, and its IP version.
local function ip_of(lt, frame)
  local ip
  if lt == "EN10MB" then
    local off = 15
    while frame:sub(off - 2, off - 1) == "\x81\x00" do off = off + 4 end
    ip = frame:sub(off)
  elseif lt == "SLL" then ip = frame:sub(17)
  elseif lt == "SLL2" then ip = frame:sub(21)
  elseif lt == "NULL" or lt == "LOOP" then ip = frame:sub(5)
  else ip = frame end
  return ip, ip:byte(1) >> 4
end

local function wrap(ip, v)
  local et = v == 6 and "\x86\xdd" or "\x08\x00"
  local mac = "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
  return {
    { "EN10MB", mac .. et .. ip },
    { "EN10MB", mac .. "\x81\x00\x00\x07" .. et .. ip },
    { "SLL", "\x00\x00\x00\x01\x00\x06" .. mac:sub(1, 6) .. "\x00\x00" .. et .. ip },
    { "SLL2", et .. "\x00\x00\x00\x00\x00\x01\x00\x00\x00\x06" .. mac:sub(1, 6) .. "\x00\x00" .. ip },
    { "RAW", ip }, { "RAWFILE", ip }, { v == 6 and "IPV6" or "IPV4", ip },
    { "NULL", string.pack("<I4", v == 6 and 10 or 2) .. ip },
    { "LOOP", string.pack(">I4", v == 6 and 24 or 2) .. ip },
  }
end

local n = 0
local pcaps = { "tests/data/decode-en10mb.pcap", "tests/data/decode-sll2.pcap",
  "tests/data/decode-raw.pcap", table.unpack(arg) }
local seen = {}
for _, path in ipairs(pcaps) do
  local lt, frames = read_pcap(path)
  for _, frame in ipairs(frames) do
    local ip, v = ip_of(lt, frame)
    local all = { { lt, frame } }
    if v == 4 or v == 6 then
      for _, w in ipairs(wrap(ip, v)) do all[#all + 1] = w end
    end
    for _, w in ipairs(all) do
      local seed = string.char(IDX[w[1]]) .. w[2]
      if not seen[seed] then
        seen[seed] = true
        n = n + 1
        write("decode", string.format("frame-%03d", n), seed)
      end
    end
  end
end
print(n .. " decode seeds")

-- expectation texts: every [[...]] block that looks like one
local texts, tseen = {}, {}
local p = io.popen("ls scripts/*.lua tests/lua/*.lua tests/bad/*.lua 2>/dev/null")
for file in p:lines() do
  local f = io.open(file)
  local src = f:read("a")
  f:close()
  for block in src:gmatch("%[%[(.-)%]%]") do
    if block:find(">%s*[%w_]+%s*%[") and not tseen[block] then
      tseen[block] = true
      texts[#texts + 1] = block
    end
  end
end
for _, t in ipairs {
  "C > S [S] seq 0 win 65535 mss 1460 wscale 7 sackOK ts\nS > C [S.] ack 1 nots\n",
  "C > S [P.] seq 1:6 len 5\nS > C [.] ack 6 sack 10:20 sack 30:40\n",
  "C > S [*]\n...\nS > C [R.] reason TCP_STATE\nno more packets within 0.2 s\n",
  "C > S [S]\nS > C [S.] after 1.0 ± 0.2\nC > S [.] after .5s +- .1s\n…\n",
  "  -- only a comment\nC>S[FSRPUEW.] -- all flags\nS > C [none]\nno more packets within 1 seconds",
} do texts[#texts + 1] = t end
for i, t in ipairs(texts) do write("expect", string.format("text-%03d", i), t) end
print(#texts .. " expect seeds")

local addrs = { "\0127.0.0.1:80", "\0[::1]:0", "\1::1", "\1127.0.0.1", "\0[fe80::1%lo]:9",
  "\0[::ffff:10.0.0.1]:65535", "\0" .. "10.0.0.2:080", "\0[2001:db8::1]:443" }
for i, a in ipairs(addrs) do write("addr", string.format("addr-%02d", i), a) end
print(#addrs .. " addr seeds")
