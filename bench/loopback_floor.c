/*
 * loopback_floor: what one upstream round trip costs the kernel on this
 * machine, whatever proxy asks for it. A proxy in front of a loopback
 * backend sends each request and reads each response: one send(2) and one
 * read(2) or recv(2) per request. This times that pair over a loopback TCP
 * connection, both ends in this process, so that the bench's CPU per request
 * can be read against a floor no proxy goes below.
 *
 *   loopback_floor [-n PAIRS] [-s BYTES]     (defaults 200000, 338: a 100-byte
 *                                             nginx response with its head)
 *
 * Prints, for read(2) then recv(2) on the receiving end, the CPU time
 * (getrusage: user + system) per send+receive pair. Loopback only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A connected loopback TCP pair: *TX sends, *RX receives. Exits on failure. */
static void tcp_pair(int *tx, int *rx)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &alen) != 0) {
        perror("loopback_floor: listen");
        exit(1);
    }
    *tx = socket(AF_INET, SOCK_STREAM, 0);
    if (*tx < 0 || connect(*tx, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        (*rx = accept(l, NULL, NULL)) < 0) {
        perror("loopback_floor: connect");
        exit(1);
    }
    setsockopt(*tx, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    close(l);
}

/* CPU seconds per pair of sending SIZE bytes and receiving them (recv(2) when USE_RECV). */
static double time_pairs(int tx, int rx, long pairs, size_t size, int use_recv)
{
    static char msg[65536], buf[65536];
    double t0 = cpu_s();

    for (long i = 0; i < pairs; i++) {
        size_t got = 0;
        if (send(tx, msg, size, 0) != (ssize_t)size) {
            perror("loopback_floor: send");
            exit(1);
        }
        while (got < size) {
            ssize_t n = use_recv ? recv(rx, buf, sizeof(buf), 0) : read(rx, buf, sizeof(buf));
            if (n <= 0) {
                perror("loopback_floor: receive");
                exit(1);
            }
            got += (size_t)n;
        }
    }
    return (cpu_s() - t0) / (double)pairs;
}

int main(int argc, char **argv)
{
    long pairs = 200000;
    size_t size = 338;
    int opt, tx, rx;

    while ((opt = getopt(argc, argv, "n:s:")) != -1) {
        if (opt == 'n')
            pairs = atol(optarg);
        else if (opt == 's')
            size = (size_t)atol(optarg);
        else {
            fprintf(stderr, "usage: loopback_floor [-n PAIRS] [-s BYTES]\n");
            return 2;
        }
    }
    if (pairs <= 0 || size == 0 || size > 65536) {
        fprintf(stderr, "loopback_floor: PAIRS must be > 0 and BYTES 1..65536\n");
        return 2;
    }
    tcp_pair(&tx, &rx);
    time_pairs(tx, rx, pairs / 10 + 1, size, 0); /* warm-up */
    printf("send+read: %.2f us CPU per pair (%zu bytes, %ld pairs)\n",
           time_pairs(tx, rx, pairs, size, 0) * 1e6, size, pairs);
    printf("send+recv: %.2f us CPU per pair\n", time_pairs(tx, rx, pairs, size, 1) * 1e6);
    close(tx);
    close(rx);
    return 0;
}
