/*
 * proxyproto: the PROXY protocol header (HAProxy's spec, v1 text and v2
 * binary) that a trusted load balancer puts before the client's bytes to
 * say who the client is. Pure parsing: no sockets, no allocation.
 */
#ifndef PX_PROXYPROTO_H
#define PX_PROXYPROTO_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#define PX_PROXYPROTO_V1_MAX_BYTES 107
#define PX_PROXYPROTO_V2_MAX_BYTES (16 + 65535)

enum px_proxyproto_result {
    PX_PROXYPROTO_DONE = 0, /* header parsed; *consumed bytes belong to it */
    PX_PROXYPROTO_MORE = 1, /* a valid prefix: read more */
};

/*
 * Parses the PROXY header at the start of BUF[0..LEN). On PX_PROXYPROTO_DONE
 * stores in *consumed the header length and in *src the client address, or
 * sets src->ss_family to AF_UNSPEC when the header carries none (v1
 * UNKNOWN, v2 LOCAL or a non-IP family): the socket peer stands. Returns
 * PX_PROXYPROTO_MORE when BUF is a strict prefix of a valid header, or
 * PX_EPARSE when it cannot be one.
 */
int px_proxyproto_parse(const char *buf, size_t len, struct sockaddr_storage *src,
                        size_t *consumed);

#endif
