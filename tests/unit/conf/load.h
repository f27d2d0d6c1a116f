/* Loading helpers shared by the conf/ unit tests (tests/unit/conf/load.c). */
#ifndef TESTS_UNIT_CONF_LOAD_H
#define TESTS_UNIT_CONF_LOAD_H

#include "conf/conf.h"

/* The error buffer of the last load. */
extern char conf_test_err[16384];

/* Loads YAML as "t.yaml"; returns the conf (caller frees), failing the test on any error. */
struct conf *conf_test_load_ok(const char *yaml);

/* Loads YAML as "t.yaml", failing the test unless it is refused; returns the error text. */
const char *conf_test_load_err(const char *yaml);

#endif
