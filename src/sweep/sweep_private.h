/* SPDX-License-Identifier: MIT */
/* sweep_private.h - helpers shared by the files of the sweep module only.
 *
 * Numbers in configurations, points and expressions are read by one strict
 * parser (sweep__parse_number) so that "is this value a number?" has the same
 * answer everywhere: an optional sign, digits with an optional fraction, an
 * optional exponent, and nothing else (no hex, no inf/nan, no spaces).
 * Doubles are written back by sweep__format_double, the shortest "%.*g" text
 * that reads back as the same double.
 */
#ifndef BANYAN_SWEEP_PRIVATE_H
#define BANYAN_SWEEP_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "sweep.h"

/* Parse s as a whole decimal number ("16", "-3", "1.0e-5", ".5", "+2").
 * Returns true and *out when s is such a number and finite. */
bool sweep__parse_number(const char *s, double *out);

/* Shortest "%.*g" text of v that strtod reads back as v; into buf (at least
 * 32 bytes are enough).  Returns buf. */
char *sweep__format_double(double v, char *buf, size_t size);

/* Check a resource expression without a point: syntax, and that every
 * {name} is a parameter whose values are numbers (a categorical parameter
 * with a non-numeric value cannot be used in arithmetic).  0, or -1 EINVAL
 * with "column N: ..." in error (N is 1-based inside expr). */
int sweep__expr_check(const sweep_config_t *cfg, const char *expr,
                      bool size_units, banyan_error_t *error);

/* The numeric value of parameter i in point x: the value itself for float
 * and int, the number of the chosen value for categorical ones.  -1 EINVAL
 * (with error text) when the index is out of range or the value is not a
 * number. */
int sweep__param_number(const sweep_config_t *cfg, size_t i, const double *x,
                        double *out, banyan_error_t *error);

#endif /* BANYAN_SWEEP_PRIVATE_H */
