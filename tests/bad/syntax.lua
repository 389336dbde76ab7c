-- Bad input: a syntax error. The file cannot load; the others still run.
scenario("never declared", function(t)
  local = 1
end)
