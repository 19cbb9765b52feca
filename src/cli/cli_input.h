/* SPDX-License-Identifier: MIT */
/* cli_input.h - the input options of `banyan run` shared with cli.c's
 * parsing of the input sources. */
#ifndef BANYAN_CLI_INPUT_H
#define BANYAN_CLI_INPUT_H

/* The words that start a source of values and a source file, instead of
 * ":::" and "::::" (GNU's --arg-sep and --arg-file-sep; NULL = the
 * default), for cli_find_separator() and cli_parse_sources(). */
void cli_set_separators(const char *arg_sep, const char *file_sep);

#endif /* BANYAN_CLI_INPUT_H */
