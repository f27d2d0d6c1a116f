/*
 * snapshot: what a worker needs to route a request, immutable once built
 * and shared by reference count: the loaded config with its compiled zone
 * matcher (struct px_config) and the open GeoIP databases. A geo database
 * change builds a new snapshot on the same config; a config reload builds a
 * new config too. Workers swap pointers; nobody locks.
 */
#ifndef PX_SNAPSHOT_H
#define PX_SNAPSHOT_H

#include "conf/conf.h"
#include "geo/addr.h"
#include "geo/geodb.h"
#include "geo/zone.h"
#include "proxy/state/tls_ctx.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>

/* A validated config plus what is compiled from it. */
struct px_config {
    atomic_uint refs;
    struct conf *conf;       /* owned */
    struct geo_zones *zones; /* owned; zone i is conf->zones[i] */
    struct px_tls_ctx **tls; /* owned, conf->nlisten entries, a reference each; NULL = plain */
    /* owned: one per backend entry, the regions' entries one after the other
     * (px_config_upstream_tls), a reference each; NULL = plain */
    struct px_tls_client **up_tls;
};

/* The client TLS context of backend entry B of region R; NULL = plain. */
struct px_tls_client *px_config_upstream_tls(const struct px_config *cfg, size_t r, size_t b);

/* Identity of a database file, to notice it was replaced. */
struct px_file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct px_snapshot {
    atomic_uint refs;
    uint64_t generation;                 /* increases with every snapshot built */
    struct px_config *cfg;               /* one reference owned */
    struct geo_db *dbs[CONF_GEO_DB_MAX]; /* one reference each owned; cfg->conf->geo.ndbs */
    struct px_file_stamp stamps[CONF_GEO_DB_MAX];
};

/* A client's classification: small, copyable, no pointers into a database. */
struct px_geo {
    uint64_t generation;  /* snapshot it was computed with */
    struct geo_addr addr; /* the address classified */
    uint16_t zone;        /* index into conf->zones */
    bool found;           /* some database knew the address */
    char country[3];
    char subdivision[8]; /* "CN-GD", "" if unknown */
    char continent[3];
    uint32_t asn;
};

/*
 * Writes into BUF one "FILE:LINE:COL: warning: ..." line per thing CFG gets
 * wrong without being an error (a country code no database reports, a zone
 * an earlier one always catches, a region no zone routes to). Returns how
 * many; --check prints them, a start or reload logs them.
 */
unsigned px_config_lint(const struct px_config *cfg, char *buf, size_t len);

/*
 * Loads and validates PATH (conf/ parsing, zone compilation and the TLS
 * contexts of the listeners, whose errors are reported at the offending
 * value's FILE:LINE:COL). Returns 0 and a config with one reference in *out
 * (err may then hold warning lines, for the caller to show), or -1 with
 * every error in err.
 */
int px_config_load(const char *path, struct px_config **out, char *err, size_t errlen);

/* px_config_load() for a reload of PREV: TLS listeners keep their ticket keys. */
int px_config_reload(const char *path, const struct px_config *prev, struct px_config **out,
                     char *err, size_t errlen);

/* Drops one reference; the last frees the config. Accepts NULL. */
void px_config_unref(struct px_config *cfg);

/*
 * Builds a snapshot of CFG (takes a new reference on it) with its geo
 * databases open. A database whose file is unchanged since PREV (may be
 * NULL) is shared rather than reopened. Returns 0, or -1 with the reason in
 * err ("FILE:LINE:COL: geo.databases: ..."), leaving *out NULL.
 */
int px_snapshot_new(struct px_config *cfg, const struct px_snapshot *prev, struct px_snapshot **out,
                    char *err, size_t errlen);

struct px_snapshot *px_snapshot_ref(struct px_snapshot *s);

/* Drops one reference; the last closes what only it held. Accepts NULL. */
void px_snapshot_unref(struct px_snapshot *s);

/* True when some database file differs from the one this snapshot opened. */
bool px_snapshot_geo_changed(const struct px_snapshot *s);

/*
 * Looks SA up in the databases (in order, later ones filling what earlier
 * ones left empty) and classifies it into a zone. CACHES, when not NULL, is
 * the calling thread's array of CONF_GEO_DB_MAX record caches (one per
 * database position). Allocation-free.
 */
void px_snapshot_classify(const struct px_snapshot *s, const struct sockaddr *sa,
                          struct geo_cache *caches, struct px_geo *out);

#endif
