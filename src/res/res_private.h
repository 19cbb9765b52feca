/* SPDX-License-Identifier: MIT */
/* res_private.h - helpers shared by the files of the res module.
 *
 * Only text helpers live here: the request code and the pool code both
 * print amounts the same way ("1.5" cpus, "0.25" gpus), so a person reads
 * one notation everywhere.
 */
#ifndef BANYAN_RES_PRIVATE_H
#define BANYAN_RES_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Format thousandths as a short decimal: 2000 -> "2", 1500 -> "1.5",
 * 125 -> "0.125".  Returns buf. */
char *res__format_milli(uint64_t milli, char *buf, size_t size);

/* Is name a valid custom resource name ([A-Za-z_][A-Za-z0-9_.-]*, shorter
 * than RES_NAME_MAX)?  len is how many bytes of name to look at. */
bool res__name_valid(const char *name, size_t len);

#endif /* BANYAN_RES_PRIVATE_H */
