/*
 * A program that uses an installed rstlab, as tests/suite/test_install*.sh
 * build it (through pkg-config, find_package and add_subdirectory): it
 * checks that the library is the version of its header, runs the scenario
 * files it is given through the C API (<rstlab/runner.h>: each scenario in
 * its own process and namespace) and prints the tally. examples/embed.c,
 * built the same ways, covers a program with a Lua state of its own.
 */
#include <rstlab/rstlab.h>
#include <rstlab/runner.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	char err[RSL_ERRLEN];
	struct rsl_runner *r;

	if (strcmp(rsl_version(), RSTLAB_VERSION) != 0) {
		fprintf(stderr, "consumer: library %s, header %s\n", rsl_version(), RSTLAB_VERSION);
		return 2;
	}
	if (rsl_runner_new(NULL, &r, err, sizeof err) != RSL_OK) {
		fprintf(stderr, "consumer: %s\n", err);
		return 2;
	}
	int rc = RSL_OK;
	for (int i = 1; i < argc && rc == RSL_OK; i++)
		rc = rsl_runner_load_file(r, argv[i]);
	if (rc == RSL_OK)
		rc = rsl_runner_run(r, NULL);
	if (rc != RSL_OK) {
		fprintf(stderr, "consumer: %s\n", rsl_runner_error(r));
		rsl_runner_free(r);
		return 2;
	}
	size_t passed = rsl_runner_tally(r, RSL_STATUS_PASS);
	size_t failed = rsl_runner_count(r) - passed - rsl_runner_tally(r, RSL_STATUS_SKIP);
	printf("consumer: rstlab %s, %zu passed, %zu failed\n", rsl_version(), passed, failed);
	rsl_runner_free(r);
	return failed == 0 && passed > 0 ? 0 : 1;
}
