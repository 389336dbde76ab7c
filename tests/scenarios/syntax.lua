-- Fixture for tests/suite (the mixed suite): a file that does not compile.

scenario("never declared", function(t)
  t:eq(1, 1)
end   -- the closing parenthesis is missing
