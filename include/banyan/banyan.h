/* SPDX-License-Identifier: MIT */
/* banyan/banyan.h - umbrella header of the banyan client API. */
#ifndef BANYAN_BANYAN_H
#define BANYAN_BANYAN_H

#include <banyan/error.h>

#define BANYAN_VERSION_MAJOR 0
#define BANYAN_VERSION_MINOR 1
#define BANYAN_VERSION_PATCH 0
#define BANYAN_VERSION_STRING "0.1.0"

/* Version of the library the program runs against, as "MAJOR.MINOR.PATCH".
 * Returned pointer is static. */
const char *banyan_version(void);

#endif /* BANYAN_BANYAN_H */
