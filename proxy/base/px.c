/*
 * px: project-wide error strings and address text. The strings are what logs and
 * error bodies show, so they stay short and specific.
 */
#include "proxy/base/px.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <uv.h>

const char *px_strerror(int err)
{
    switch (err) {
    case PX_EPARSE:
        return "malformed HTTP message";
    case PX_EHEADTOOBIG:
        return "header too large";
    case PX_EBODYTOOBIG:
        return "body too large";
    case PX_ENOBACKEND:
        return "no backend reachable";
    case PX_ETIMEOUT:
        return "timed out";
    case PX_ETRUNCATED:
        return "upstream closed mid-message";
    case PX_ENOMEM:
        return "out of memory";
    case PX_EVERSION:
        return "HTTP version not supported";
    case PX_EMETHOD:
        return "method not supported";
    case PX_ESHUTDOWN:
        return "shutting down";
    case PX_ETLS:
        return "TLS failure";
    case PX_ETLSPLAIN:
        return "plain HTTP request sent to a TLS port";
    case PX_ETLSCLOSED:
        return "TLS connection closed by the peer";
    case PX_ETLSVERIFY:
        return "TLS certificate verification failed";
    case PX_EBUDGET:
        return "retry budget exhausted";
    case PX_ENOROUTES:
        return "no routing table";
    default:
        return err < 0 && err > -1000 ? uv_strerror(err) : "unknown error";
    }
}

uint64_t px_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Dotted quad of A into BUF (16 bytes): glibc's inet_ntop goes through sprintf. */
static void ipv4_text(const struct in_addr *a, char *buf)
{
    const unsigned char *b = (const unsigned char *)&a->s_addr;
    char *o = buf;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            *o++ = (char)('0' + v / 100);
        if (v >= 10)
            *o++ = (char)('0' + v / 10 % 10);
        *o++ = (char)('0' + v % 10);
        *o++ = i < 3 ? '.' : '\0';
    }
}

void px_sockaddr_ip(const struct sockaddr *sa, char *buf, size_t cap)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (sa->sa_family == AF_INET && cap >= INET_ADDRSTRLEN) { /* every request: XFF, logs */
        ipv4_text(&in->sin_addr, buf);
        return;
    }
    const void *addr =
        sa->sa_family == AF_INET6 ? (const void *)&in6->sin6_addr : (const void *)&in->sin_addr;
    if (inet_ntop(sa->sa_family, addr, buf, (socklen_t)cap) == NULL)
        snprintf(buf, cap, "-");
}

void px_sockaddr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    bool v6 = sa->sa_family == AF_INET6;
    unsigned port = ntohs(v6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                             : ((const struct sockaddr_in *)sa)->sin_port);

    px_sockaddr_ip(sa, ip, sizeof(ip));
    snprintf(buf, cap, v6 ? "[%s]:%u" : "%s:%u", ip, port);
}
