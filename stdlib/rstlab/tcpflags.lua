--- rstlab.tcpflags: TCP flags, the one table of their letters.
---
--- Packets carry their flags as the header's bits (an integer, as the core
--- decoded them); people read and write them in tcpdump's letters: "S.",
--- "P.", "R", "none". Every conversion between the two is here.
---
---   tcpflags.letters(0x12)        -> "S."
---   tcpflags.parse("S.")          -> 0x12
---   tcpflags.has(bits, "R")       -> true when RST is set

local M = {}

-- tcpdump's order (its tcp_flag_values table), ACK printed as '.', and the
-- name nftables and people give each flag.
local ORDER = {
  { "F", 0x01, "fin" }, { "S", 0x02, "syn" }, { "R", 0x04, "rst" }, { "P", 0x08, "psh" },
  { ".", 0x10, "ack" }, { "U", 0x20, "urg" }, { "E", 0x40, "ecn" }, { "W", 0x80, "cwr" },
}

--- BIT[letter] -> the flag's bit; NAME[letter] -> its name ("syn", "ack", ...).
M.BIT, M.NAME = {}, {}
for _, f in ipairs(ORDER) do M.BIT[f[1]], M.NAME[f[1]] = f[2], f[3] end
M.FIN, M.SYN, M.RST, M.PSH, M.ACK = 0x01, 0x02, 0x04, 0x08, 0x10

--- The letters tcpdump prints for bits: "S.", "FP.", "none" for no flag.
function M.letters(bits)
  local out = {}
  for _, f in ipairs(ORDER) do
    if bits & f[2] ~= 0 then out[#out + 1] = f[1] end
  end
  return #out == 0 and "none" or table.concat(out)
end

--- parse(letters) -> bits | nil, message. "none" is no flag; each letter
--- once; order does not matter ("FP." == "PF.").
function M.parse(s)
  if s == "none" then return 0 end
  if s == "" then return nil, "empty flags (write none for a packet without flags)" end
  local bits = 0
  for ch in s:gmatch(utf8.charpattern) do
    local bit = M.BIT[ch]
    if not bit then return nil, "unknown flag letter '" .. ch .. "'" end
    if bits & bit ~= 0 then return nil, "flag letter '" .. ch .. "' given twice" end
    bits = bits | bit
  end
  return bits
end

--- has(bits, letter) -> whether that flag is set.
function M.has(bits, letter)
  return bits & M.BIT[letter] ~= 0
end

--- names(bits) -> list of the names of the flags set, in tcpdump's order.
function M.names(bits)
  local out = {}
  for _, f in ipairs(ORDER) do
    if bits & f[2] ~= 0 then out[#out + 1] = f[3] end
  end
  return out
end

return M
