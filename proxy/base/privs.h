/*
 * privs: giving up root once the sockets are bound, as nginx and HAProxy
 * do. Nothing after startup needs root: listeners, the admin socket and
 * the access log are open, and reloads read files the service user must be
 * able to read anyway.
 */
#ifndef PX_PRIVS_H
#define PX_PRIVS_H

#include <stddef.h>

/*
 * Switches the process to USER and GROUP (either may be NULL: GROUP
 * defaults to USER's primary group), dropping supplementary groups, and
 * checks that root cannot be regained. Returns 0, or -1 with a message in
 * ERR. Call before any thread starts.
 */
int px_privs_drop(const char *user, const char *group, char *err, size_t errlen);

#endif
