-- Fixture for tests/suite (the mixed suite): a scenario that passes, except
-- on its second attempt when RSTLAB_TEST_FLAKY names a counter file (so the
-- --repeat and --until-fail tests have a flaky scenario that is certain).

scenario("flaky: fails on the second attempt", function(t)
  local path = os.getenv("RSTLAB_TEST_FLAKY")
  if not path then return end
  local f = io.open(path)
  local n = f and tonumber(f:read("a")) or 0
  if f then f:close() end
  n = n + 1
  f = assert(io.open(path, "w"))
  f:write(n)
  f:close()
  t:ok(n ~= 2, "attempt " .. n .. " fails")
end)
