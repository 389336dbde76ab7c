/*
 * rstlab from C, without Lua: run a scenario given as a string and read its
 * result through <rstlab/runner.h>. The scenario runs as the rstlab
 * program would run it: in a child process, in a fresh network namespace.
 *
 *   ./build/examples/run_string
 *
 * Exits 0 when the scenario passed and its result reads back as expected.
 */
#include <rstlab/runner.h>

#include <stdio.h>
#include <string.h>

static const char script[] =
	"scenario('a FIN, then EOF', function(t)\n"
	"  local srv = assert(t.host:listen('127.0.0.1:0'))\n"
	"  local cli = assert(t.host:connect(srv.addr))\n"
	"  local conn = assert(srv:accept())\n"
	"  assert(cli:write('hello'))\n"
	"  cli:close()\n"
	"  t:eq(conn:read(5), 'hello')\n"
	"  t:fails_with('EOF', conn:read(5, { timeout = 2 }))\n"
	"end)\n";

int main(void)
{
	char err[RSL_ERRLEN];
	struct rsl_runner *r;
	int status = 1;

	if (rsl_runner_new(NULL, &r, err, sizeof err) != RSL_OK) {
		fprintf(stderr, "run_string: %s\n", err);
		return 1;
	}
	if (rsl_runner_load_string(r, script, "inline.lua") != RSL_OK
	    || rsl_runner_run(r, NULL) != RSL_OK) {
		fprintf(stderr, "run_string: %s\n", rsl_runner_error(r));
		goto out;
	}
	for (size_t i = 0; i < rsl_runner_count(r); i++) {
		const struct rsl_result *res = rsl_runner_result(r, i);
		if (res == NULL)
			continue;
		const char *msg = rsl_result_message(res);
		printf("%s: %s: %s in %.3f s%s%s\n", rsl_result_file(res), rsl_result_name(res),
		       rsl_status_name(rsl_result_status(res)), rsl_result_duration(res),
		       msg ? ": " : "", msg ? msg : "");
		for (size_t k = 0; k < rsl_result_unchecked_count(res); k++)
			printf("  unchecked: %s\n", rsl_result_unchecked(res, k));
		for (size_t k = 0; k < rsl_result_pcap_count(res); k++)
			printf("  pcap: %s\n", rsl_result_pcap(res, k));
	}
	if (rsl_runner_count(r) == 1 && rsl_runner_tally(r, RSL_STATUS_PASS) == 1
	    && strcmp(rsl_runner_name(r, 0), "a FIN, then EOF") == 0)
		status = 0;
out:
	rsl_runner_free(r);
	return status;
}
