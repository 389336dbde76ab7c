-- Bad input: an error thrown inside a second actor fails its scenario at
-- once (the main actor would sleep for 5 s); the next scenario still runs.
scenario("an error thrown inside an actor", function(t)
  t:go(function()
    t:sleep(0.01)
    error("boom in the second actor")
  end)
  t:sleep(5)
end)

scenario("after the actor error", function(t)
  t:ok(true)
end)
