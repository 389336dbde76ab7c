/*
 * The library's version, for embedders that compare it with the header
 * they compiled against (RSTLAB_VERSION).
 */
#include "internal.h"

const char *rsl_version(void)
{
	return RSTLAB_VERSION;
}
