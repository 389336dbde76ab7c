-- Fixture for tests/suite (the mixed suite): a runtime error in an actor.

scenario("error: an actor indexes nil", function(t)
  t:go(function()
    local conf = nil
    return conf.port -- attempt to index a nil value
  end)
  t:sleep(5)
end)
