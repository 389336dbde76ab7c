/*
 * Tests of core/errname.c and core/version.c: the one table of failure
 * codes (errno names and rstlab's pseudo-codes) and the library's version.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "rstlab/rstlab.h"

static void test_version_is_the_headers(void **state)
{
	assert_non_null(rsl_version());
	assert_string_equal(rsl_version(), RSTLAB_VERSION);
}

static void test_errname_pseudo_codes(void **state)
{
	static const char *const codes[] = {
		"EOF", "TIMEOUT", "ECLOSED", "EUNAVAIL", "ESYSCTL", "EDIAG", "ELINK", "ECAPTURE",
		"ESEND", "EPCAP",
	};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		const char *text = rsl_code_text(codes[i]);
		assert_non_null(text);
		assert_true(strlen(text) > 0);
	}
	assert_non_null(strstr(rsl_code_text("EOF"), "recv returned 0"));
	assert_non_null(strstr(rsl_code_text("TIMEOUT"), "deadline"));
	assert_non_null(strstr(rsl_code_text("ECLOSED"), "closed while waiting"));
}

static void test_errname_errnos(void **state)
{
	static const int errs[] = { ECONNRESET, ECONNREFUSED, ETIMEDOUT, EPIPE, EAGAIN,
	                            EADDRINUSE, EHOSTUNREACH };
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		const char *name = rsl_errno_name(errs[i]);
		assert_true(name[0] == 'E');
		/* The name is in the table, and its sentence is strerror's. */
		assert_string_equal(rsl_code_text(name), strerror(errs[i]));
	}
	assert_string_equal(rsl_errno_name(ECONNRESET), "ECONNRESET");
	assert_string_equal(rsl_errno_name(EINPROGRESS), "EINPROGRESS");
}

static void test_errname_unnamed_errno(void **state)
{
	/* An errno without a name in the table is "E<number>", and that is a
	 * code too (what else could a script be given?). */
	assert_string_equal(rsl_errno_name(ECHILD), "E10");
	assert_string_equal(rsl_code_text("E10"), strerror(ECHILD));
}

static void test_errname_unknown_codes(void **state)
{
	assert_null(rsl_code_text(NULL));
	assert_null(rsl_code_text(""));
	assert_null(rsl_code_text("ECONNRESETX"));
	assert_null(rsl_code_text("eof"));
	assert_null(rsl_code_text("ESTABLISHED"));
	assert_null(rsl_code_text("E"));
	assert_null(rsl_code_text("E0"));
	assert_null(rsl_code_text("E12x"));
	assert_null(rsl_code_text("E99999"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_is_the_headers),
		cmocka_unit_test(test_errname_pseudo_codes),
		cmocka_unit_test(test_errname_errnos),
		cmocka_unit_test(test_errname_unnamed_errno),
		cmocka_unit_test(test_errname_unknown_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
