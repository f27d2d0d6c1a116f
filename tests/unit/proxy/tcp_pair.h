/*
 * A connected loopback TCP pair for tests that drive a real uv stream: small
 * socket buffers make partial writes and back-pressure happen with little data.
 */
#ifndef TESTS_UNIT_PROXY_TCP_PAIR_H
#define TESTS_UNIT_PROXY_TCP_PAIR_H

/*
 * Connects a pair over 127.0.0.1. *PEER is the test's end (receive buffer
 * BUF, non-blocking); the return value is the accepted end (send buffer BUF,
 * blocking, for the stream under test). Fails the test on any error.
 */
int tcp_pair(int *peer, int buf);

#endif
