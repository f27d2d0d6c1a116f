/* privs: see privs.h. getpwnam_r and getgrnam_r, so nothing is static. */
#include "proxy/base/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NSS_BUF 4096

static int lookup_user(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    struct passwd pw, *res = NULL;
    char buf[NSS_BUF];
    int rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);

    if (res == NULL) {
        snprintf(err, errlen, "user %s: %s", user, rc ? strerror(rc) : "no such user");
        return -1;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return 0;
}

static int lookup_group(const char *group, gid_t *gid, char *err, size_t errlen)
{
    struct group gr, *res = NULL;
    char buf[NSS_BUF];
    int rc = getgrnam_r(group, &gr, buf, sizeof(buf), &res);

    if (res == NULL) {
        snprintf(err, errlen, "group %s: %s", group, rc ? strerror(rc) : "no such group");
        return -1;
    }
    *gid = gr.gr_gid;
    return 0;
}

int px_privs_drop(const char *user, const char *group, char *err, size_t errlen)
{
    uid_t uid = getuid();
    gid_t gid = getgid();

    if (user && lookup_user(user, &uid, &gid, err, errlen) != 0)
        return -1;
    if (group && lookup_group(group, &gid, err, errlen) != 0)
        return -1;
    /* Groups first: once the uid is not root, they can no longer change. */
    if (geteuid() == 0 && setgroups(0, NULL) != 0) {
        snprintf(err, errlen, "setgroups: %s", strerror(errno));
        return -1;
    }
    if (setgid(gid) != 0 || (user && setuid(uid) != 0)) {
        snprintf(err, errlen, "switching to uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
                 strerror(errno));
        return -1;
    }
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        snprintf(err, errlen, "root could be regained after switching to uid %u", (unsigned)uid);
        return -1;
    }
    return 0;
}
