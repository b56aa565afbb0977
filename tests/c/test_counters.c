/*
 * C tests for peko_counter and the PEKO_COUNTER_* ids: every id reads, an
 * unknown one is refused without touching the output, the ids keep their
 * numbers, the counters shared with peko_stats_t agree with it, and the
 * counters added with peko_counter (dropped as too large, send errors, events
 * lost, the UDP/TCP split) move when their cause happens.
 *
 * The "counters" suite of build/tests/test_api (see test_main.c). Only
 * 127.0.0.1 is used; ports are chosen by the OS.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* The ids are ABI: a program compiled against one header must read the same
 * counter from every later library.  Their values, as first published. */
static const struct {
    const char *name;
    uint32_t id;
    uint32_t value;
} COUNTERS[] = {
    { "MEMBERS_ALIVE", PEKO_COUNTER_MEMBERS_ALIVE, 1 },
    { "MEMBERS_SUSPECT", PEKO_COUNTER_MEMBERS_SUSPECT, 2 },
    { "PACKETS_SENT", PEKO_COUNTER_PACKETS_SENT, 3 },
    { "BYTES_SENT", PEKO_COUNTER_BYTES_SENT, 4 },
    { "PACKETS_RECEIVED", PEKO_COUNTER_PACKETS_RECEIVED, 5 },
    { "BYTES_RECEIVED", PEKO_COUNTER_BYTES_RECEIVED, 6 },
    { "DROPPED_AUTH", PEKO_COUNTER_DROPPED_AUTH, 7 },
    { "DROPPED_MALFORMED", PEKO_COUNTER_DROPPED_MALFORMED, 8 },
    { "DROPPED_QUEUE_FULL", PEKO_COUNTER_DROPPED_QUEUE_FULL, 9 },
    { "ANTI_ENTROPY_EXCHANGES", PEKO_COUNTER_ANTI_ENTROPY_EXCHANGES, 10 },
    { "ROUND", PEKO_COUNTER_ROUND, 11 },
    { "DROPPED_TOO_LARGE", PEKO_COUNTER_DROPPED_TOO_LARGE, 12 },
    { "SEND_ERRORS", PEKO_COUNTER_SEND_ERRORS, 13 },
    { "CONNECTIONS_REFUSED", PEKO_COUNTER_CONNECTIONS_REFUSED, 14 },
    { "MEMBERS_REFUSED", PEKO_COUNTER_MEMBERS_REFUSED, 15 },
    { "EVENTS_LOST", PEKO_COUNTER_EVENTS_LOST, 16 },
    { "RUMORS_DROPPED", PEKO_COUNTER_RUMORS_DROPPED, 17 },
    { "RELAYS_REFUSED", PEKO_COUNTER_RELAYS_REFUSED, 18 },
    { "UDP_DATAGRAMS_SENT", PEKO_COUNTER_UDP_DATAGRAMS_SENT, 19 },
    { "UDP_BYTES_SENT", PEKO_COUNTER_UDP_BYTES_SENT, 20 },
    { "TCP_FRAMES_SENT", PEKO_COUNTER_TCP_FRAMES_SENT, 21 },
    { "TCP_BYTES_SENT", PEKO_COUNTER_TCP_BYTES_SENT, 22 },
    { "UDP_DATAGRAMS_RECEIVED", PEKO_COUNTER_UDP_DATAGRAMS_RECEIVED, 23 },
    { "TCP_FRAMES_RECEIVED", PEKO_COUNTER_TCP_FRAMES_RECEIVED, 24 },
    { "ANTI_ENTROPY_BYTES_SENT", PEKO_COUNTER_ANTI_ENTROPY_BYTES_SENT, 25 },
    { "CONNECTIONS_EVICTED", PEKO_COUNTER_CONNECTIONS_EVICTED, 26 },
    { "INCARNATIONS_IMPLAUSIBLE", PEKO_COUNTER_INCARNATIONS_IMPLAUSIBLE, 27 },
    { "CLOCKS_IMPLAUSIBLE", PEKO_COUNTER_CLOCKS_IMPLAUSIBLE, 28 },
    { "INTRODUCTIONS_REFUSED", PEKO_COUNTER_INTRODUCTIONS_REFUSED, 29 },
    { "ANNOUNCES_IGNORED", PEKO_COUNTER_ANNOUNCES_IGNORED, 30 },
    { "DROPPED_REPLAY", PEKO_COUNTER_DROPPED_REPLAY, 31 },
    { "DROPPED_LABEL", PEKO_COUNTER_DROPPED_LABEL, 32 },
};
#define NCOUNTERS (sizeof COUNTERS / sizeof COUNTERS[0])

/* ---- helpers ---------------------------------------------------------- */

/* A loopback member config (harness fixtures) over the given transport. */
static peko_config config_over(uint32_t protocol)
{
    peko_config cfg = loopback_config();
    cfg.protocol = protocol;
    return cfg;
}

static void set_peer(peko_node *node, uint16_t port)
{
    peko_node_info peer = member("127.0.0.1", port, NULL, NULL);
    CHECK_OK(peko_set(node, &peer));
}

static uint64_t counter(peko_node *node, uint32_t id)
{
    uint64_t v = 0;
    CHECK_OK(peko_counter(node, id, &v));
    return v;
}

/* Takes the library's log lines, so the refused connections this test causes
 * do not fill the console; counts the error lines (callbacks may run on
 * several library threads at once). */
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

static void count_errors(void *userdata, uint32_t level, const char *line)
{
    (void)line;
    if (level == PEKO_LOG_ERROR) {
        pthread_mutex_lock(&g_log_mu);
        ++*(unsigned long *)userdata;
        pthread_mutex_unlock(&g_log_mu);
    }
}

/* Connects to the member's TCP port and sends a frame length beyond any limit. */
static void send_oversized_frame(uint16_t port)
{
    /* A stream frame header (docs/protocol.md, protocol version 4, no key):
     * "PK", version 4, type 4 (PushPull), flags 0, a body of 2^32 - 1 bytes. */
    static const unsigned char huge[9] = { 'P', 'K', 4, 4, 0, 0xff, 0xff, 0xff, 0xff };
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_MSG(fd >= 0, "socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_MSG(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s",
              strerror(errno));
    CHECK(write(fd, huge, sizeof huge) == (ssize_t)sizeof huge);
    close(fd);
}

/* ---- tests ------------------------------------------------------------ */

/* The ids keep their published numbers, each reads, unknown ones are refused
 * with a message and without writing the output, NULL is an error. */
static void test_counter_ids(void)
{
    peko_config cfg = config_over(PEKO_PROTOCOL_UDP);
    peko_node_info me = { "127.0.0.1", 0, "ids", NULL };
    static const uint32_t unknown[] = { 0, NCOUNTERS + 1, 1000, 0xffffffffu };
    peko_node *node = NULL;
    size_t i;

    for (i = 0; i < NCOUNTERS; i++)
        CHECK_MSG(COUNTERS[i].id == COUNTERS[i].value,
                  "PEKO_COUNTER_%s is %u, was published as %u", COUNTERS[i].name,
                  (unsigned)COUNTERS[i].id, (unsigned)COUNTERS[i].value);

    CHECK_OK(peko_new(&cfg, &me, &node));
    for (i = 0; i < NCOUNTERS; i++) {
        uint64_t v = UINT64_MAX;
        CHECK_OK(peko_counter(node, COUNTERS[i].id, &v));
        CHECK_MSG(v != UINT64_MAX, "PEKO_COUNTER_%s: output not written", COUNTERS[i].name);
    }
    CHECK(counter(node, PEKO_COUNTER_MEMBERS_ALIVE) == 1); /* itself, before join */

    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char msg[256], want[32];
        uint64_t v = 777;
        CHECK_STATUS(peko_counter(node, unknown[i], &v), PEKO_ERR_INVALID_ARG);
        CHECK_MSG(v == 777, "peko_counter(%u) wrote its output on failure", (unsigned)unknown[i]);
        CHECK(peko_last_error(msg, sizeof msg) > 0);
        snprintf(want, sizeof want, "counter %u ", (unsigned)unknown[i]);
        CHECK_MSG(strstr(msg, want) != NULL, "message \"%s\" does not name the id", msg);
    }
    CHECK_STATUS(peko_counter(node, PEKO_COUNTER_ROUND, NULL), PEKO_ERR_NULL_ARG);
    {
        uint64_t v = 5;
        CHECK_STATUS(peko_counter(NULL, PEKO_COUNTER_ROUND, &v), PEKO_ERR_NULL_ARG);
        CHECK(v == 5);
    }
    peko_free(node);
}

/* The counters peko_stats_t has too: a value read with peko_counter between
 * two peko_stats calls lies between the two (every one only grows, and on a
 * converged pair the member counts hold still). */
static void test_counters_agree_with_stats(void)
{
    peko_config cfg = config_over(PEKO_PROTOCOL_UDP);
    uint16_t pa, pb;
    peko_node *a = joined_node(&cfg, "a", NULL, &pa);
    peko_node *b = joined_node(&cfg, "b", NULL, &pb);
    peko_stats_t before, after;
    uint64_t got[11];
    double deadline;
    size_t i;

    set_peer(b, pa);
    deadline = now_s() + CLUSTER_DEADLINE_S;
    while (counter(a, PEKO_COUNTER_MEMBERS_ALIVE) != 2 ||
           counter(b, PEKO_COUNTER_MEMBERS_ALIVE) != 2 ||
           counter(a, PEKO_COUNTER_UDP_DATAGRAMS_RECEIVED) == 0 ||
           /* UDP mode: a's answers go as datagrams (sent just after it receives) */
           counter(a, PEKO_COUNTER_UDP_DATAGRAMS_SENT) == 0) {
        CHECK_MSG(now_s() < deadline, "the pair did not converge in %.0f s", CLUSTER_DEADLINE_S);
        sleep_ms(20);
    }

    CHECK_OK(peko_stats(a, &before));
    for (i = 0; i < 11; i++)
        got[i] = counter(a, PEKO_COUNTER_MEMBERS_ALIVE + (uint32_t)i);
    CHECK_OK(peko_stats(a, &after));
    {
        const uint64_t lo[11] = {
            before.members_alive, before.members_suspect, before.packets_sent,
            before.bytes_sent, before.packets_received, before.bytes_received,
            before.dropped_auth, before.dropped_malformed, before.dropped_queue_full,
            before.anti_entropy_exchanges, before.round,
        };
        const uint64_t hi[11] = {
            after.members_alive, after.members_suspect, after.packets_sent,
            after.bytes_sent, after.packets_received, after.bytes_received,
            after.dropped_auth, after.dropped_malformed, after.dropped_queue_full,
            after.anti_entropy_exchanges, after.round,
        };
        for (i = 0; i < 11; i++)
            CHECK_MSG(lo[i] <= got[i] && got[i] <= hi[i],
                      "PEKO_COUNTER_%s = %llu, peko_stats said %llu then %llu",
                      COUNTERS[i].name, (unsigned long long)got[i],
                      (unsigned long long)lo[i], (unsigned long long)hi[i]);
    }
    CHECK(counter(a, PEKO_COUNTER_UDP_BYTES_SENT) > 0);
    peko_free(b);
    peko_free(a);
}

/* More silent peers than the unread event queue keeps (64): each ends in a
 * FAILED event, so some are lost. */
#define SILENT_PEERS 70

/* The counters peko_stats_t lacks move when their cause happens: an
 * oversized frame, connections that are refused, an event queue that
 * overflows because nobody reads it. */
static void test_new_counters_move(void)
{
    peko_config cfg = config_over(PEKO_PROTOCOL_TCP);
    int held[SILENT_PEERS];
    uint16_t port;
    peko_node *a;
    double deadline;
    size_t i;
    static unsigned long error_lines; /* under g_log_mu until peko_set_log(NULL) */

    CHECK_OK(peko_set_log(count_errors, &error_lines, PEKO_LOG_ERROR));
    a = joined_node(&cfg, "counted", NULL, &port);

    for (i = 0; i < SILENT_PEERS; i++) {
        uint16_t p;
        /* bound but never listening: a connection is refused at once */
        held[i] = bound_loopback_socket(SOCK_STREAM, &p);
        set_peer(a, p);
    }
    send_oversized_frame(port);

    deadline = now_s() + CLUSTER_DEADLINE_S;
    while (counter(a, PEKO_COUNTER_DROPPED_TOO_LARGE) < 1 ||
           counter(a, PEKO_COUNTER_SEND_ERRORS) < 1 ||
           counter(a, PEKO_COUNTER_EVENTS_LOST) < SILENT_PEERS - 64) {
        CHECK_MSG(now_s() < deadline,
                  "in %.0f s: dropped_too_large %llu, send_errors %llu, events_lost %llu",
                  CLUSTER_DEADLINE_S,
                  (unsigned long long)counter(a, PEKO_COUNTER_DROPPED_TOO_LARGE),
                  (unsigned long long)counter(a, PEKO_COUNTER_SEND_ERRORS),
                  (unsigned long long)counter(a, PEKO_COUNTER_EVENTS_LOST));
        sleep_ms(20);
    }
    printf("    dropped_too_large %llu, send_errors %llu, events_lost %llu\n",
           (unsigned long long)counter(a, PEKO_COUNTER_DROPPED_TOO_LARGE),
           (unsigned long long)counter(a, PEKO_COUNTER_SEND_ERRORS),
           (unsigned long long)counter(a, PEKO_COUNTER_EVENTS_LOST));
    /* The oversized frame is also a malformed packet, as peko_stats_t counts it. */
    CHECK(counter(a, PEKO_COUNTER_DROPPED_MALFORMED) >=
          counter(a, PEKO_COUNTER_DROPPED_TOO_LARGE));
    /* TCP mode: nothing went as a datagram. */
    CHECK(counter(a, PEKO_COUNTER_UDP_DATAGRAMS_SENT) == 0);
    CHECK(counter(a, PEKO_COUNTER_CONNECTIONS_REFUSED) == 0);
    CHECK(counter(a, PEKO_COUNTER_MEMBERS_REFUSED) == 0);
    peko_free(a);
    for (i = 0; i < SILENT_PEERS; i++)
        close(held[i]);
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));
    CHECK_MSG(error_lines > 0, "no error line for the refused connections");
}

static const struct test_case tests[] = {
    TEST_CASE(test_counter_ids),
    TEST_CASE(test_counters_agree_with_stats),
    TEST_CASE(test_new_counters_move),
};

const struct test_suite counters_suite = TEST_SUITE("counters", tests);
