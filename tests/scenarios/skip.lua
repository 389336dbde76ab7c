-- Fixture for tests/suite (the mixed suite): a scenario that skips itself.

scenario("skip: not on this machine", function(t)
  t:skip("needs a feature this fixture pretends to lack")
end)
