/*
 * C tests for the pekonode C ABI: argument checking, status codes, the
 * last-error buffer, metadata reads, join errors, calls from several threads
 * on one handle, small loopback clusters that converge, and the newer calls:
 * events (peko_next_event, peko_event_clear, peko_event_fd), peko_leave,
 * peko_update, the host logger (peko_set_log) and counters (peko_stats).
 *
 * Built by `make c-test` with -fsanitize=address,undefined; every test runs
 * in its own child process (see harness.h).  Only 127.0.0.1 is used.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "harness.h"

/* How long a cluster test waits for a condition before failing. */
#define CLUSTER_DEADLINE_S 20.0

/* ---- helpers --------------------------------------------------------- */

/* Defaults, bound to loopback only, with a fast cycle so tests finish soon. */
static peko_config loopback_config(void)
{
    peko_config cfg;
    peko_config_default(&cfg);
    cfg.listen_addr = "127.0.0.1";
    cfg.cycle_ms = 100;
    cfg.timeout_ms = 2000;
    return cfg;
}

static peko_node_info member(const char *addr, uint16_t port, const char *name,
                             const char *data)
{
    peko_node_info info;
    info.addr = addr;
    info.port = port;
    info.name = name;
    info.private_data = data;
    return info;
}

static peko_node *new_node(const peko_config *cfg, uint16_t port,
                           const char *name, const char *data)
{
    peko_node *node = NULL;
    peko_node_info local = member("127.0.0.1", port, name, data);
    CHECK_OK(peko_new(cfg, &local, &node));
    CHECK(node != NULL);
    return node;
}

static uint16_t local_port(peko_node *node)
{
    uint16_t port = 0;
    CHECK_OK(peko_local_port(node, &port));
    return port;
}

/* A joined node on an OS-chosen loopback port. */
static peko_node *joined_node(const peko_config *cfg, const char *name,
                              const char *data, uint16_t *port_out)
{
    peko_node *node = new_node(cfg, 0, name, data);
    CHECK_OK(peko_join(node));
    *port_out = local_port(node);
    CHECK_MSG(*port_out != 0, "peko_local_port after join returned 0");
    return node;
}

/* Looks `port` up in the node's member list. Returns the list size and, when
 * found, copies name/private_data (truncated) into the given buffers. */
static size_t list_lookup(peko_node *node, uint16_t port, int *found,
                          char *name, size_t name_cap, char *data,
                          size_t data_cap)
{
    peko_node_info *nodes = NULL;
    size_t count = 0, i;
    CHECK_OK(peko_get(node, &nodes, &count));
    CHECK_MSG(count == 0 || nodes != NULL, "peko_get: count %lu, nodes NULL",
              (unsigned long)count);
    *found = 0;
    for (i = 0; i < count; i++) {
        CHECK_MSG(nodes[i].addr != NULL && nodes[i].name != NULL &&
                      nodes[i].private_data != NULL,
                  "peko_get entry %lu has a NULL string", (unsigned long)i);
        if (nodes[i].port == port && strcmp(nodes[i].addr, "127.0.0.1") == 0) {
            *found = 1;
            if (name != NULL)
                snprintf(name, name_cap, "%s", nodes[i].name);
            if (data != NULL)
                snprintf(data, data_cap, "%s", nodes[i].private_data);
        }
    }
    peko_nodes_free(nodes, count);
    return count;
}

static int has_member(peko_node *node, uint16_t port, size_t *count)
{
    int found;
    *count = list_lookup(node, port, &found, NULL, 0, NULL, 0);
    return found;
}

/* Reads the cluster metadata into buf (cap bytes); returns its length. */
static size_t read_metadata(peko_node *node, uint8_t *buf, size_t cap)
{
    size_t len = (size_t)-1;
    CHECK_OK(peko_read(node, buf, cap, &len));
    CHECK(len <= cap);
    return len;
}

/* ---- status strings, version, trivial no-ops ------------------------- */

/* Filled at run time, not in a static initializer, so the test does not
 * depend on the constants being preprocessor integer constants. */
#define N_STATUSES 9
static void fill_statuses(peko_status *all)
{
    all[0] = PEKO_OK;
    all[1] = PEKO_ERR_NULL_ARG;
    all[2] = PEKO_ERR_INVALID_ARG;
    all[3] = PEKO_ERR_STATE;
    all[4] = PEKO_ERR_IO;
    all[5] = PEKO_ERR_BUFFER_TOO_SMALL;
    all[6] = PEKO_ERR_TOO_LARGE;
    all[7] = PEKO_ERR_PANIC;
    all[8] = PEKO_ERR_TIMEOUT;
}

static void test_status_codes_values(void)
{
    /* The numeric values are ABI: C callers may store or switch on them. */
    CHECK(PEKO_OK == 0);
    CHECK(PEKO_ERR_NULL_ARG == 1);
    CHECK(PEKO_ERR_INVALID_ARG == 2);
    CHECK(PEKO_ERR_STATE == 3);
    CHECK(PEKO_ERR_IO == 4);
    CHECK(PEKO_ERR_BUFFER_TOO_SMALL == 5);
    CHECK(PEKO_ERR_TOO_LARGE == 6);
    CHECK(PEKO_ERR_PANIC == 7);
    CHECK(PEKO_ERR_TIMEOUT == 8);
    CHECK(PEKO_PROTOCOL_UDP == 0);
    CHECK(PEKO_PROTOCOL_TCP == 1);
    CHECK(sizeof(peko_status) == 4);
    CHECK(PEKO_EVENT_JOINED == 1);
    CHECK(PEKO_EVENT_LEFT == 2);
    CHECK(PEKO_EVENT_FAILED == 3);
    CHECK(PEKO_EVENT_UPDATED == 4);
    CHECK(PEKO_EVENT_METADATA == 5);
    CHECK(PEKO_LOG_ERROR == 0);
    CHECK(PEKO_LOG_INFO == 1);
    /* eleven 64-bit counters, nothing else: the struct is ABI */
    CHECK(sizeof(peko_stats_t) == 11 * sizeof(uint64_t));
}

static void test_status_str_every_code(void)
{
    const peko_status unknown[] = { 9, 100, 0x7fffffffu, 0xffffffffu };
    peko_status all_statuses[N_STATUSES];
    size_t i, j;
    fill_statuses(all_statuses);
    for (i = 0; i < N_STATUSES; i++) {
        const char *s = peko_status_str(all_statuses[i]);
        CHECK_MSG(s != NULL && s[0] != '\0', "peko_status_str(%u) empty",
                  (unsigned)all_statuses[i]);
        printf("    %u -> %s\n", (unsigned)all_statuses[i], s);
        for (j = 0; j < i; j++)
            CHECK_MSG(strcmp(s, peko_status_str(all_statuses[j])) != 0,
                      "codes %u and %u share the text \"%s\"",
                      (unsigned)all_statuses[i], (unsigned)all_statuses[j], s);
    }
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = peko_status_str(unknown[i]);
        CHECK_MSG(s != NULL && s[0] != '\0', "peko_status_str(%u) empty",
                  (unsigned)unknown[i]);
        printf("    %u -> %s\n", (unsigned)unknown[i], s);
        for (j = 0; j < N_STATUSES; j++)
            CHECK_MSG(strcmp(s, peko_status_str(all_statuses[j])) != 0,
                      "unknown code %u reads like known code %u (\"%s\")",
                      (unsigned)unknown[i], (unsigned)all_statuses[j], s);
    }
}

static void test_version_non_empty(void)
{
    const char *v = peko_version();
    size_t i;
    CHECK(v != NULL);
    CHECK(v[0] != '\0');
    for (i = 0; v[i] != '\0'; i++)
        CHECK_MSG(v[i] >= 0x20 && v[i] < 0x7f, "non-printable byte in version");
    CHECK(strcmp(v, peko_version()) == 0);
    printf("    version: %s\n", v);
}

static void test_free_null_is_noop(void)
{
    peko_free(NULL);
    peko_nodes_free(NULL, 0);
    peko_nodes_free(NULL, 3);
    peko_config_default(NULL);
}

static void test_config_default(void)
{
    peko_config cfg;
    peko_node *node;
    memset(&cfg, 0xA5, sizeof cfg);
    peko_config_default(&cfg);
    CHECK(cfg.protocol == PEKO_PROTOCOL_UDP);
    CHECK(cfg.secret_key == NULL || cfg.secret_key[0] == '\0');
    CHECK(!cfg.is_print);
    /* The defaults are usable as they are. */
    cfg.listen_addr = "127.0.0.1";
    node = new_node(&cfg, 0, "d", "");
    peko_free(node);
}

/* ---- NULL arguments ----------------------------------------------------- */

static void test_null_args(void)
{
    peko_config cfg = loopback_config();
    peko_node_info local = member("127.0.0.1", 0, "n", "d");
    peko_node_info no_addr = member(NULL, 0, "n", "d");
    static char dummy;
    peko_node *const sentinel = (peko_node *)(void *)&dummy; /* never dereferenced */
    peko_node *out = sentinel;
    peko_node *node;
    peko_node_info *const nodes_sentinel = &local;
    peko_node_info *nodes = nodes_sentinel;
    size_t count = 77, len = 77;
    uint16_t port = 777;
    uint8_t buf[8];

    /* peko_new */
    CHECK_STATUS(peko_new(NULL, &local, &out), PEKO_ERR_NULL_ARG);
    CHECK(out == sentinel);
    CHECK_MSG(peko_last_error(NULL, 0) > 0,
              "no peko_last_error message after PEKO_ERR_NULL_ARG");
    CHECK_STATUS(peko_new(&cfg, NULL, &out), PEKO_ERR_NULL_ARG);
    CHECK(out == sentinel);
    CHECK_STATUS(peko_new(&cfg, &local, NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_new(&cfg, &no_addr, &out), PEKO_ERR_NULL_ARG);
    CHECK(out == sentinel);

    /* every function that takes a handle */
    CHECK_STATUS(peko_set(NULL, &local), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_join(NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_get(NULL, &nodes, &count), PEKO_ERR_NULL_ARG);
    CHECK(nodes == nodes_sentinel && count == 77);
    CHECK_STATUS(peko_publish(NULL, buf, 1), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_read(NULL, buf, sizeof buf, &len), PEKO_ERR_NULL_ARG);
    CHECK(len == 77);
    CHECK_STATUS(peko_stop(NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_start(NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_local_port(NULL, &port), PEKO_ERR_NULL_ARG);
    CHECK(port == 777);

    /* NULL in other required places, on a real (joined) handle */
    node = new_node(&cfg, 0, "n", "d");
    CHECK_OK(peko_join(node));
    CHECK_STATUS(peko_set(node, NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_set(node, &no_addr), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_get(node, NULL, &count), PEKO_ERR_NULL_ARG);
    CHECK(count == 77);
    CHECK_STATUS(peko_get(node, &nodes, NULL), PEKO_ERR_NULL_ARG);
    CHECK(nodes == nodes_sentinel);
    CHECK_STATUS(peko_publish(node, NULL, 4), PEKO_ERR_NULL_ARG);
    memset(buf, 0xEE, sizeof buf);
    CHECK_STATUS(peko_read(node, buf, sizeof buf, NULL), PEKO_ERR_NULL_ARG);
    CHECK(buf[0] == 0xEE);
    CHECK_STATUS(peko_local_port(node, NULL), PEKO_ERR_NULL_ARG);

    /* NULL name / private_data are allowed and mean "" */
    {
        peko_node *other = NULL;
        peko_node_info bare = member("127.0.0.1", 0, NULL, NULL);
        peko_node_info peer = member("127.0.0.1", 1, NULL, NULL);
        CHECK_OK(peko_new(&cfg, &bare, &other));
        CHECK_OK(peko_set(other, &peer));
        peko_free(other);
    }
    peko_free(node);
}

/* ---- invalid arguments ---------------------------------------------------- */

static void expect_new_invalid(const peko_config *cfg, const peko_node_info *local,
                               const char *what)
{
    static char dummy;
    peko_node *const sentinel = (peko_node *)(void *)&dummy;
    peko_node *out = sentinel;
    char msg[256];
    peko_status st = peko_new(cfg, local, &out);
    CHECK_MSG(st == PEKO_ERR_INVALID_ARG,
              "peko_new with %s returned %u (%s), expected PEKO_ERR_INVALID_ARG",
              what, (unsigned)st, peko_status_str(st));
    CHECK_MSG(out == sentinel, "peko_new with %s wrote *out on failure", what);
    msg[0] = '\0';
    CHECK_MSG(peko_last_error(msg, sizeof msg) > 0 && msg[0] != '\0',
              "peko_new with %s left peko_last_error empty", what);
    printf("    %s -> \"%s\"\n", what, msg);
}

static void test_bad_address(void)
{
    static const char *const bad[] = {
        "not-an-ip", "256.0.0.1", "127.0.0.1:7946", "", "localhost",
        "1.2.3", " 127.0.0.1", "::1::2",
    };
    peko_config cfg = loopback_config();
    size_t i;
    peko_node *node;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[64];
        peko_node_info local = member(bad[i], 0, "n", "");
        snprintf(what, sizeof what, "addr \"%s\"", bad[i]);
        expect_new_invalid(&cfg, &local, what);
    }
    {
        peko_node_info local = member("127.0.0.1", 0, "n", "");
        cfg.listen_addr = "not-an-ip";
        expect_new_invalid(&cfg, &local, "listen_addr \"not-an-ip\"");
        cfg = loopback_config();
    }

    /* a peer with a bad address */
    node = new_node(&cfg, 0, "n", "");
    {
        peko_node_info peer = member("no.such.host", 7946, "p", "");
        CHECK_STATUS(peko_set(node, &peer), PEKO_ERR_INVALID_ARG);
        CHECK(peko_last_error(NULL, 0) > 0);
    }
    peko_free(node);
}

static void test_invalid_utf8(void)
{
    static const char bad_utf8[] = "ab\xff\xfe";
    static const char truncated_seq[] = "\xc3";
    peko_config cfg = loopback_config();
    peko_node_info local;
    peko_node *node;

    local = member("127.0.0.1", 0, bad_utf8, "");
    expect_new_invalid(&cfg, &local, "a non-UTF-8 name");
    local = member("127.0.0.1", 0, truncated_seq, "");
    expect_new_invalid(&cfg, &local, "a truncated UTF-8 name");
    local = member("127.0.0.1", 0, "n", bad_utf8);
    expect_new_invalid(&cfg, &local, "non-UTF-8 private_data");
    local = member("127.0.0.1", 0, "n", "");
    cfg.secret_key = bad_utf8;
    expect_new_invalid(&cfg, &local, "a non-UTF-8 secret_key");
    cfg = loopback_config();
    cfg.listen_addr = bad_utf8;
    expect_new_invalid(&cfg, &local, "a non-UTF-8 listen_addr");
    cfg = loopback_config();
    local = member(bad_utf8, 0, "n", "");
    expect_new_invalid(&cfg, &local, "a non-UTF-8 addr");

    /* valid multi-byte UTF-8 is fine */
    local = member("127.0.0.1", 0, "n\xc3\xa9\xe2\x82\xac", "d\xf0\x9f\x90\xa7");
    node = NULL;
    CHECK_OK(peko_new(&cfg, &local, &node));

    {
        peko_node_info peer = member("127.0.0.1", 7946, bad_utf8, "");
        CHECK_STATUS(peko_set(node, &peer), PEKO_ERR_INVALID_ARG);
        peer = member("127.0.0.1", 7946, "p", bad_utf8);
        CHECK_STATUS(peko_set(node, &peer), PEKO_ERR_INVALID_ARG);
    }
    peko_free(node);
}

static void test_invalid_protocol(void)
{
    peko_config cfg = loopback_config();
    peko_node_info local = member("127.0.0.1", 0, "n", "");
    peko_node *node;

    cfg.protocol = 7;
    expect_new_invalid(&cfg, &local, "protocol 7");
    cfg.protocol = 0xffffffffu;
    expect_new_invalid(&cfg, &local, "protocol 0xffffffff");

    /* both valid values are accepted */
    cfg.protocol = PEKO_PROTOCOL_UDP;
    node = new_node(&cfg, 0, "n", "");
    peko_free(node);
    cfg.protocol = PEKO_PROTOCOL_TCP;
    node = new_node(&cfg, 0, "n", "");
    peko_free(node);
}

/* ---- peko_last_error ---------------------------------------------------- */

struct thread_error_result {
    size_t fresh_len;   /* peko_last_error in a thread with no failure yet */
    char fresh_buf[8];
    peko_status st;     /* the failure it then causes */
};

static void *other_thread_errors(void *arg)
{
    struct thread_error_result *r = (struct thread_error_result *)arg;
    peko_config cfg = loopback_config();
    peko_node_info local = member("127.0.0.1", 0, "n", "");
    peko_node *out = NULL;

    memset(r->fresh_buf, 'Z', sizeof r->fresh_buf);
    r->fresh_len = peko_last_error(r->fresh_buf, sizeof r->fresh_buf);
    cfg.protocol = 9;
    r->st = peko_new(&cfg, &local, &out);
    return NULL;
}

static void test_last_error_truncation(void)
{
    peko_config cfg = loopback_config();
    peko_node_info bad = member("not-an-ip", 0, "n", "");
    peko_node *out = NULL;
    char full[1024], small[16], again[1024];
    size_t n, r;
    pthread_t th;
    struct thread_error_result tr;

    CHECK_STATUS(peko_new(&cfg, &bad, &out), PEKO_ERR_INVALID_ARG);

    n = peko_last_error(NULL, 0);
    CHECK_MSG(n > 4, "message too short to test truncation: %lu", (unsigned long)n);
    CHECK(n < sizeof full);

    memset(full, 'X', sizeof full);
    r = peko_last_error(full, sizeof full);
    CHECK(r == n);
    CHECK_MSG(strlen(full) == n, "strlen %lu != returned length %lu",
              (unsigned long)strlen(full), (unsigned long)n);
    printf("    message (%lu bytes): \"%s\"\n", (unsigned long)n, full);

    /* cap 5: four bytes and a NUL; nothing written past cap */
    memset(small, 'X', sizeof small);
    r = peko_last_error(small, 5);
    CHECK(r == n);
    CHECK(small[4] == '\0');
    CHECK(memcmp(small, full, 4) == 0);
    CHECK(small[5] == 'X');

    /* cap 1: only the NUL */
    memset(small, 'X', sizeof small);
    CHECK(peko_last_error(small, 1) == n);
    CHECK(small[0] == '\0' && small[1] == 'X');

    /* cap 0: the buffer is not touched */
    memset(small, 'X', sizeof small);
    CHECK(peko_last_error(small, 0) == n);
    CHECK(small[0] == 'X');

    /* cap == n: one byte short, truncated; cap == n + 1: exact fit */
    memset(again, 'X', sizeof again);
    CHECK(peko_last_error(again, n) == n);
    CHECK(strlen(again) == n - 1 && memcmp(again, full, n - 1) == 0);
    memset(again, 'X', sizeof again);
    CHECK(peko_last_error(again, n + 1) == n);
    CHECK(strcmp(again, full) == 0 && again[n + 1] == 'X');

    /* reading does not consume the message */
    CHECK(peko_last_error(NULL, 0) == n);

    /* the message is per thread: a new thread has none, and its own failure
     * leaves this thread's message alone */
    CHECK(pthread_create(&th, NULL, other_thread_errors, &tr) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_MSG(tr.fresh_len == 0, "fresh thread sees a message of %lu bytes",
              (unsigned long)tr.fresh_len);
    CHECK(tr.fresh_buf[0] == '\0' || tr.fresh_buf[0] == 'Z');
    CHECK(tr.st == PEKO_ERR_INVALID_ARG);
    memset(again, 'X', sizeof again);
    CHECK(peko_last_error(again, sizeof again) == n);
    CHECK(strcmp(again, full) == 0);
}

/* ---- metadata: publish / read ------------------------------------------ */

static void test_read_before_publish(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node = joined_node(&cfg, "r", "", &port);
    uint8_t buf[16];
    size_t len = 99;

    memset(buf, 0xEE, sizeof buf);
    CHECK_OK(peko_read(node, buf, sizeof buf, &len));
    CHECK(len == 0);
    CHECK(buf[0] == 0xEE);
    peko_free(node);
}

static void test_read_two_call(void)
{
    static const char msg[] = "cluster metadata v1";
    const size_t msg_len = sizeof msg - 1;
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node = joined_node(&cfg, "r", "", &port);
    uint8_t buf[64];
    uint8_t *exact;
    size_t len, needed = 0;
    double deadline;
    peko_status st;

    CHECK_OK(peko_publish(node, (const uint8_t *)msg, msg_len));

    /* first call: ask for the length (the local register may take a moment) */
    deadline = now_s() + CLUSTER_DEADLINE_S;
    for (;;) {
        len = 12345;
        st = peko_read(node, NULL, 0, &len);
        if (st == PEKO_ERR_BUFFER_TOO_SMALL && len == msg_len)
            break;
        CHECK_MSG(st == PEKO_OK || st == PEKO_ERR_BUFFER_TOO_SMALL,
                  "peko_read(NULL) returned %s", peko_status_str(st));
        CHECK_MSG(now_s() < deadline, "published metadata never readable locally");
        sleep_ms(20);
    }
    needed = len;

    /* NULL buffer with a non-zero cap is still "too small" */
    len = 0;
    CHECK_STATUS(peko_read(node, NULL, 100, &len), PEKO_ERR_BUFFER_TOO_SMALL);
    CHECK(len == msg_len);

    /* a short buffer: BUFFER_TOO_SMALL, the length, buffer untouched */
    memset(buf, 0xEE, sizeof buf);
    len = 0;
    CHECK_STATUS(peko_read(node, buf, msg_len - 1, &len), PEKO_ERR_BUFFER_TOO_SMALL);
    CHECK(len == msg_len);
    CHECK(buf[0] == 0xEE);

    /* second call with exactly the needed size */
    exact = (uint8_t *)malloc(needed);
    CHECK(exact != NULL);
    len = 0;
    CHECK_OK(peko_read(node, exact, needed, &len));
    CHECK(len == msg_len);
    CHECK(memcmp(exact, msg, msg_len) == 0);
    free(exact);

    /* a larger buffer works too and bytes past len are not written */
    memset(buf, 0xEE, sizeof buf);
    CHECK(read_metadata(node, buf, sizeof buf) == msg_len);
    CHECK(memcmp(buf, msg, msg_len) == 0);
    CHECK(buf[msg_len] == 0xEE);

    /* binary data with NUL bytes round-trips */
    {
        const uint8_t bin[5] = { 0, 1, 0, 255, 0 };
        deadline = now_s() + CLUSTER_DEADLINE_S;
        CHECK_OK(peko_publish(node, bin, sizeof bin));
        while (read_metadata(node, buf, sizeof buf) != sizeof bin ||
               memcmp(buf, bin, sizeof bin) != 0) {
            CHECK_MSG(now_s() < deadline, "second publish never readable locally");
            sleep_ms(20);
        }
    }
    peko_free(node);
}

static void test_publish_too_large(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node;
    uint8_t *big;
    uint8_t buf[8];
    size_t big_len = 16384 + 1;
    double deadline;

    big = (uint8_t *)calloc(1, 70000);
    CHECK(big != NULL);

    /* default size is 16384 */
    node = joined_node(&cfg, "p", "", &port);
    CHECK_OK(peko_publish(node, (const uint8_t *)"keep", 4));
    CHECK_STATUS(peko_publish(node, big, big_len), PEKO_ERR_TOO_LARGE);
    CHECK(peko_last_error(NULL, 0) > 0);
    CHECK_STATUS(peko_publish(node, big, 65536), PEKO_ERR_TOO_LARGE);
    /* the rejected publish changed nothing */
    deadline = now_s() + CLUSTER_DEADLINE_S;
    while (read_metadata(node, buf, sizeof buf) != 4) {
        CHECK_MSG(now_s() < deadline, "metadata \"keep\" never readable");
        sleep_ms(20);
    }
    CHECK(memcmp(buf, "keep", 4) == 0);
    peko_free(node);

    /* an explicit size: exactly size is fine, one more is too large */
    cfg.size = 4096;
    node = joined_node(&cfg, "p", "", &port);
    CHECK_STATUS(peko_publish(node, big, 4097), PEKO_ERR_TOO_LARGE);
    CHECK_OK(peko_publish(node, big, 4096));
    peko_free(node);
    free(big);
}

/* ---- join, ports, state ---------------------------------------------- */

static void test_local_port(void)
{
    peko_config cfg = loopback_config();
    peko_node *node;
    uint16_t port = 1;

    node = new_node(&cfg, 0, "n", "");
    CHECK_OK(peko_local_port(node, &port));
    CHECK_MSG(port == 0, "before join: configured port 0, got %u", port);
    CHECK_OK(peko_join(node));
    port = local_port(node);
    CHECK_MSG(port != 0, "after join on port 0 the bound port is still 0");
    printf("    bound port %u\n", port);
    peko_free(node);

    /* before join a configured non-zero port is reported as is (nothing bound) */
    node = new_node(&cfg, 45999, "n", "");
    CHECK(local_port(node) == 45999);
    peko_free(node);
}

static void test_double_join(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node = joined_node(&cfg, "n", "", &port);
    CHECK_STATUS(peko_join(node), PEKO_ERR_STATE);
    CHECK(peko_last_error(NULL, 0) > 0);
    /* still works after the refused join */
    CHECK(local_port(node) == port);
    peko_free(node);
}

static void test_port_in_use(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *first = joined_node(&cfg, "first", "", &port);
    peko_node *second = new_node(&cfg, port, "second", "");
    peko_node *third;

    CHECK_STATUS(peko_join(second), PEKO_ERR_IO);
    CHECK(peko_last_error(NULL, 0) > 0);
    {
        char msg[256];
        msg[0] = '\0';
        peko_last_error(msg, sizeof msg);
        printf("    port %u in use -> \"%s\"\n", port, msg);
    }
    peko_free(second);

    /* peko_free returns only once the sockets are closed: the port is free
     * again at once */
    peko_free(first);
    third = new_node(&cfg, port, "third", "");
    CHECK_OK(peko_join(third));
    CHECK(local_port(third) == port);
    peko_free(third);
}

static void test_get_local_member(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node = joined_node(&cfg, "solo", "solo-data", &port);
    char name[32], data[32];
    int found;
    size_t count = list_lookup(node, port, &found, name, sizeof name, data, sizeof data);
    CHECK_MSG(count == 1, "a lone member lists %lu members", (unsigned long)count);
    CHECK(found);
    CHECK(strcmp(name, "solo") == 0);
    CHECK(strcmp(data, "solo-data") == 0);
    peko_free(node);
}

static void test_stop_start(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node = joined_node(&cfg, "n", "", &port);
    size_t count;

    CHECK_OK(peko_start(node)); /* running already: no-op */
    CHECK_OK(peko_stop(node));
    CHECK_OK(peko_start(node));
    CHECK_OK(peko_start(node));
    CHECK(has_member(node, port, &count));
    peko_free(node);

    /* freeing a stopped member is fine too */
    node = joined_node(&cfg, "n", "", &port);
    CHECK_OK(peko_stop(node));
    peko_free(node);
}

/* ---- several threads on one handle --------------------------------------- */

#define THREAD_ITERATIONS 1000

struct shared_handle {
    peko_node *node;
    uint16_t peer_ports[2];
    uint32_t size;
};

static void *thread_get(void *arg)
{
    struct shared_handle *h = (struct shared_handle *)arg;
    int i;
    for (i = 0; i < THREAD_ITERATIONS; i++) {
        peko_node_info *nodes = NULL;
        size_t count = 0, j;
        CHECK_OK(peko_get(h->node, &nodes, &count));
        CHECK(count >= 1 && nodes != NULL);
        for (j = 0; j < count; j++)
            CHECK(nodes[j].addr != NULL && nodes[j].name != NULL &&
                  nodes[j].private_data != NULL);
        peko_nodes_free(nodes, count);
    }
    return NULL;
}

static void *thread_publish(void *arg)
{
    struct shared_handle *h = (struct shared_handle *)arg;
    char msg[64];
    int i;
    for (i = 0; i < THREAD_ITERATIONS; i++) {
        int n = snprintf(msg, sizeof msg, "update %d %.*s", i, i % 40,
                         "........................................");
        CHECK_OK(peko_publish(h->node, (const uint8_t *)msg, (size_t)n));
    }
    return NULL;
}

static void *thread_read(void *arg)
{
    struct shared_handle *h = (struct shared_handle *)arg;
    uint8_t *buf = (uint8_t *)malloc(h->size);
    int i;
    CHECK(buf != NULL);
    for (i = 0; i < THREAD_ITERATIONS; i++) {
        size_t len = 0;
        peko_status st = peko_read(h->node, NULL, 0, &len);
        CHECK_MSG(st == PEKO_OK || st == PEKO_ERR_BUFFER_TOO_SMALL,
                  "peko_read(NULL) returned %s", peko_status_str(st));
        CHECK(len <= h->size);
        len = 0;
        CHECK_OK(peko_read(h->node, buf, h->size, &len));
        CHECK(len <= h->size);
        CHECK(len == 0 || memcmp(buf, "update ", 7) == 0);
    }
    free(buf);
    return NULL;
}

static void *thread_set(void *arg)
{
    struct shared_handle *h = (struct shared_handle *)arg;
    int i;
    for (i = 0; i < THREAD_ITERATIONS; i++) {
        peko_node_info peer = member("127.0.0.1", h->peer_ports[i % 2],
                                     (i % 2) ? "peer-b" : "peer-a", NULL);
        uint16_t port;
        CHECK_OK(peko_set(h->node, &peer));
        CHECK_OK(peko_local_port(h->node, &port));
        (void)peko_last_error(NULL, 0);
    }
    return NULL;
}

static void test_threads_share_handle(void)
{
    peko_config cfg = loopback_config();
    struct shared_handle h;
    peko_node *peers[2];
    pthread_t th[4];
    void *(*const fns[4])(void *) = { thread_get, thread_publish, thread_read,
                                       thread_set };
    size_t i;
    uint16_t port;

    cfg.size = 4096;
    h.size = cfg.size;
    peers[0] = joined_node(&cfg, "peer-a", "", &h.peer_ports[0]);
    peers[1] = joined_node(&cfg, "peer-b", "", &h.peer_ports[1]);
    h.node = joined_node(&cfg, "shared", "", &port);

    for (i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, fns[i], &h) == 0);
    for (i = 0; i < 4; i++)
        CHECK(pthread_join(th[i], NULL) == 0);

    /* the handle is still sound */
    {
        size_t count;
        CHECK(has_member(h.node, port, &count));
    }
    peko_free(h.node);
    peko_free(peers[0]);
    peko_free(peers[1]);
}

/* ---- loopback clusters ---------------------------------------------------- */

static void two_node_cluster(peko_config cfg)
{
    uint16_t pa, pb;
    peko_node *a = joined_node(&cfg, "alpha", "alpha-data", &pa);
    peko_node *b = new_node(&cfg, 0, "beta", "beta-data");
    peko_node_info seed = member("127.0.0.1", pa, "alpha", NULL);
    static const char meta[] = "hello from alpha";
    uint8_t buf[64];
    double t0 = now_s(), deadline = t0 + CLUSTER_DEADLINE_S;
    size_t ca = 0, cb = 0;

    CHECK_OK(peko_set(b, &seed));
    CHECK_OK(peko_join(b));
    pb = local_port(b);
    CHECK(pb != 0 && pb != pa);

    /* Converged: each lists exactly the two, with the other's own name and
     * private data (beta's entry for alpha starts from what peko_set gave,
     * so the attributes are part of the condition, not checked after it). */
    for (;;) {
        char a_name[32] = "", a_data[32] = "", b_name[32] = "", b_data[32] = "";
        int a_sees_b, b_sees_a, attrs_ok;
        ca = list_lookup(a, pb, &a_sees_b, b_name, sizeof b_name, b_data, sizeof b_data);
        cb = list_lookup(b, pa, &b_sees_a, a_name, sizeof a_name, a_data, sizeof a_data);
        attrs_ok = strcmp(b_name, "beta") == 0 && strcmp(b_data, "beta-data") == 0 &&
                   strcmp(a_name, "alpha") == 0 && strcmp(a_data, "alpha-data") == 0;
        if (a_sees_b && b_sees_a && ca == 2 && cb == 2 && attrs_ok)
            break;
        CHECK_MSG(now_s() < deadline,
                  "no convergence in %.0f s: alpha lists %lu (beta: %s, \"%s\", \"%s\"), "
                  "beta lists %lu (alpha: %s, \"%s\", \"%s\")",
                  CLUSTER_DEADLINE_S, (unsigned long)ca, a_sees_b ? "yes" : "no",
                  b_name, b_data, (unsigned long)cb, b_sees_a ? "yes" : "no", a_name,
                  a_data);
        sleep_ms(50);
    }
    printf("    converged in %.2f s\n", now_s() - t0);

    /* metadata published on alpha reaches beta */
    CHECK_OK(peko_publish(a, (const uint8_t *)meta, sizeof meta - 1));
    t0 = now_s();
    deadline = t0 + CLUSTER_DEADLINE_S;
    while (read_metadata(b, buf, sizeof buf) != sizeof meta - 1 ||
           memcmp(buf, meta, sizeof meta - 1) != 0) {
        CHECK_MSG(now_s() < deadline, "metadata never reached beta");
        sleep_ms(50);
    }
    printf("    metadata reached beta in %.2f s\n", now_s() - t0);

    peko_free(b);
    peko_free(a);
}

static void test_two_node_cluster_udp(void)
{
    two_node_cluster(loopback_config());
}

static void test_two_node_cluster_tcp_with_key(void)
{
    peko_config cfg = loopback_config();
    cfg.protocol = PEKO_PROTOCOL_TCP;
    cfg.secret_key = "shared secret";
    two_node_cluster(cfg);
}

/* ---- events, leave, update, host logger, counters ------------------------- */

/* A byte pattern no library output would leave behind: an output argument that
 * must stay untouched is filled with it first. */
#define POISON 0xA5

static int is_poisoned(const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i] != POISON)
            return 0;
    return 1;
}

static const char *event_kind_name(uint32_t kind)
{
    switch (kind) {
    case PEKO_EVENT_JOINED: return "JOINED";
    case PEKO_EVENT_LEFT: return "LEFT";
    case PEKO_EVENT_FAILED: return "FAILED";
    case PEKO_EVENT_UPDATED: return "UPDATED";
    case PEKO_EVENT_METADATA: return "METADATA";
    default: return "?";
    }
}

/* Every event the library hands out: a known kind, three strings, nothing lost
 * (these clusters are far too small to fill the 1024-event queue). */
static void check_event(const peko_event *ev)
{
    CHECK_MSG(ev->kind >= PEKO_EVENT_JOINED && ev->kind <= PEKO_EVENT_METADATA,
              "event with unknown kind %u", (unsigned)ev->kind);
    CHECK_MSG(ev->member.addr != NULL && ev->member.name != NULL &&
                  ev->member.private_data != NULL,
              "%s event with a NULL string", event_kind_name(ev->kind));
    CHECK_MSG(strcmp(ev->member.addr, "127.0.0.1") == 0,
              "%s event for address \"%s\"", event_kind_name(ev->kind), ev->member.addr);
    CHECK_MSG(ev->lost == 0, "%s event says %lu events were lost",
              event_kind_name(ev->kind), (unsigned long)ev->lost);
    printf("    event %-8s 127.0.0.1:%u name \"%s\" data \"%s\"\n",
           event_kind_name(ev->kind), (unsigned)ev->member.port, ev->member.name,
           ev->member.private_data);
}

/* peko_event_clear frees the strings and NULLs them; a second clear is harmless. */
static void clear_event(peko_event *ev)
{
    peko_event_clear(ev);
    CHECK(ev->member.addr == NULL && ev->member.name == NULL &&
          ev->member.private_data == NULL);
    peko_event_clear(ev);
}

/* Blocking style: waits (peko_next_event with a timeout) until deadline for the
 * next event. Returns 1 with *ev filled, 0 when the deadline passed. */
static int next_event_until(peko_node *node, double deadline, peko_event *ev)
{
    for (;;) {
        peko_status st;
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        st = peko_next_event(node, left > 0.2 ? 200u : (uint32_t)(left * 1000) + 1, ev);
        if (st == PEKO_OK) {
            check_event(ev);
            return 1;
        }
        CHECK_MSG(st == PEKO_ERR_TIMEOUT, "peko_next_event returned %u (%s)",
                  (unsigned)st, peko_status_str(st));
    }
}

/* Descriptor style: poll()s the event fd until deadline, then reads with
 * peko_next_event(node, 0). We are the only reader, so "readable" must mean an
 * event is there: a readable fd with nothing to read is a failure. */
static int poll_event_until(peko_node *node, int fd, double deadline, peko_event *ev)
{
    for (;;) {
        struct pollfd p;
        int r, ms;
        peko_status st;
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        ms = left > 0.2 ? 200 : (int)(left * 1000) + 1;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        CHECK_MSG(r >= 0, "poll on the event fd: %s", strerror(errno));
        if (r == 0)
            continue;
        CHECK_MSG((p.revents & POLLIN) != 0, "event fd revents 0x%x", (unsigned)p.revents);
        st = peko_next_event(node, 0, ev);
        CHECK_MSG(st == PEKO_OK,
                  "event fd readable but peko_next_event(node, 0) returned %u (%s)",
                  (unsigned)st, peko_status_str(st));
        check_event(ev);
        return 1;
    }
}

/* Reads every pending event without waiting; the fd must then agree. */
static void drain_events(peko_node *node, int fd)
{
    peko_event ev;
    struct pollfd p;
    int rounds = 0;
    for (;;) {
        peko_status st = peko_next_event(node, 0, &ev);
        if (st == PEKO_ERR_TIMEOUT)
            break;
        CHECK_STATUS(st, PEKO_OK);
        check_event(&ev);
        clear_event(&ev);
        CHECK_MSG(++rounds < 10000, "the event queue never empties");
    }
    /* empty now: the fd is not readable, unless an event came in meanwhile,
     * which the next read must then return */
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 0) == 1) {
        CHECK_MSG(peko_next_event(node, 0, &ev) == PEKO_OK,
                  "event fd readable with no event pending");
        check_event(&ev);
        clear_event(&ev);
    }
}

static peko_stats_t stats_of(peko_node *node)
{
    peko_stats_t st;
    memset(&st, POISON, sizeof st);
    CHECK_OK(peko_stats(node, &st));
    CHECK(!is_poisoned(&st, sizeof st));
    return st;
}

/* Waits until the node's members_alive is `want`. */
static void wait_members_alive(peko_node *node, uint64_t want, const char *who)
{
    double deadline = now_s() + CLUSTER_DEADLINE_S;
    peko_stats_t st = stats_of(node);
    while (st.members_alive != want) {
        CHECK_MSG(now_s() < deadline, "%s: members_alive stayed %lu, expected %lu", who,
                  (unsigned long)st.members_alive, (unsigned long)want);
        sleep_ms(20);
        st = stats_of(node);
    }
}

static void test_status_str_timeout(void)
{
    const char *s = peko_status_str(PEKO_ERR_TIMEOUT);
    CHECK(s != NULL && s[0] != '\0');
    CHECK_MSG(strcmp(s, peko_status_str(9999)) != 0,
              "PEKO_ERR_TIMEOUT reads like an unknown status: \"%s\"", s);
    CHECK(s == peko_status_str(PEKO_ERR_TIMEOUT)); /* static */
    printf("    PEKO_ERR_TIMEOUT -> %s\n", s);
}

static void dummy_log(void *userdata, uint32_t level, const char *line)
{
    (void)userdata;
    (void)level;
    (void)line;
}

/* NULL in every required place of the newer calls: PEKO_ERR_NULL_ARG, a
 * message, outputs untouched; peko_event_fd -1; the no-op calls do nothing. */
static void test_new_api_null_args(void)
{
    peko_config cfg = loopback_config();
    peko_event ev;
    peko_stats_t st;
    peko_node *node;
    int fd;

    memset(&ev, POISON, sizeof ev);
    CHECK_STATUS(peko_next_event(NULL, 0, &ev), PEKO_ERR_NULL_ARG);
    CHECK(is_poisoned(&ev, sizeof ev));
    CHECK_MSG(peko_last_error(NULL, 0) > 0, "no message after peko_next_event(NULL)");
    {
        /* a NULL handle fails at once, it does not wait out the timeout */
        double t0 = now_s();
        CHECK_STATUS(peko_next_event(NULL, 3000, &ev), PEKO_ERR_NULL_ARG);
        CHECK_MSG(now_s() - t0 < 1.0, "peko_next_event(NULL, 3000) took %.2f s",
                  now_s() - t0);
        CHECK(is_poisoned(&ev, sizeof ev));
    }

    peko_event_clear(NULL);
    memset(&ev, 0, sizeof ev);
    peko_event_clear(&ev); /* all strings NULL: nothing to free */
    peko_event_clear(&ev);

    CHECK(peko_event_fd(NULL) == -1);
    CHECK_STATUS(peko_leave(NULL, 0), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_leave(NULL, 1000), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_update(NULL, "n", "d"), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_update(NULL, NULL, NULL), PEKO_ERR_NULL_ARG);
    memset(&st, POISON, sizeof st);
    CHECK_STATUS(peko_stats(NULL, &st), PEKO_ERR_NULL_ARG);
    CHECK(is_poisoned(&st, sizeof st));

    /* a NULL callback is not an error: it restores the console */
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_INFO));
    CHECK_STATUS(peko_set_log(dummy_log, NULL, 2), PEKO_ERR_INVALID_ARG);
    CHECK_STATUS(peko_set_log(NULL, NULL, 0xffffffffu), PEKO_ERR_INVALID_ARG);
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));

    /* on a real handle, not joined yet */
    node = new_node(&cfg, 0, "n", "d");
    CHECK_STATUS(peko_next_event(node, 0, NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_next_event(node, 100, NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_stats(node, NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_leave(node, 0), PEKO_ERR_STATE);
    CHECK(peko_last_error(NULL, 0) > 0);
    memset(&ev, POISON, sizeof ev);
    CHECK_STATUS(peko_next_event(node, 0, &ev), PEKO_ERR_TIMEOUT);
    CHECK(is_poisoned(&ev, sizeof ev));
    fd = peko_event_fd(node);
    CHECK_MSG(fd >= 0, "peko_event_fd on a new handle returned %d", fd);
    CHECK(peko_event_fd(node) == fd);

    /* and joined */
    CHECK_OK(peko_join(node));
    CHECK_STATUS(peko_next_event(node, 0, NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_stats(node, NULL), PEKO_ERR_NULL_ARG);
    CHECK(peko_event_fd(node) == fd);
    peko_free(node);
}

/* peko_next_event waits about as long as asked, and writes nothing on timeout. */
static void test_next_event_timeout(void)
{
    peko_config cfg = loopback_config();
    peko_node *node = new_node(&cfg, 0, "n", ""); /* never joined: no events */
    peko_event ev;
    double t0, took;

    memset(&ev, POISON, sizeof ev);
    t0 = now_s();
    CHECK_STATUS(peko_next_event(node, 0, &ev), PEKO_ERR_TIMEOUT);
    CHECK_MSG(now_s() - t0 < 1.0, "timeout 0 took %.2f s", now_s() - t0);
    t0 = now_s();
    CHECK_STATUS(peko_next_event(node, 300, &ev), PEKO_ERR_TIMEOUT);
    took = now_s() - t0;
    CHECK_MSG(took >= 0.25 && took < 5.0, "timeout 300 ms took %.3f s", took);
    CHECK(is_poisoned(&ev, sizeof ev));
    CHECK(peko_last_error(NULL, 0) > 0);
    printf("    peko_next_event(300 ms) -> PEKO_ERR_TIMEOUT after %.3f s\n", took);
    peko_free(node);
}

/* A lone member: counters are sane, rounds advance, the member is its own list;
 * peko_update changes the local entry at once; the fd closes with peko_free. */
static void test_stats_and_update_lone(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node = joined_node(&cfg, "solo", "solo-data", &port);
    double deadline = now_s() + CLUSTER_DEADLINE_S;
    peko_stats_t st = stats_of(node);
    char name[64], data[64];
    int found, fd;

    CHECK_MSG(st.members_alive == 1, "lone member: members_alive %lu",
              (unsigned long)st.members_alive);
    CHECK(st.members_suspect == 0);
    CHECK(st.dropped_auth == 0 && st.dropped_malformed == 0);
    while (st.round == 0) {
        CHECK_MSG(now_s() < deadline, "no gossip round counted");
        sleep_ms(20);
        st = stats_of(node);
    }
    printf("    members_alive %lu, round %lu\n", (unsigned long)st.members_alive,
           (unsigned long)st.round);

    CHECK_OK(peko_update(node, "solo-renamed", NULL));
    CHECK(list_lookup(node, port, &found, name, sizeof name, data, sizeof data) == 1);
    CHECK(found);
    CHECK_MSG(strcmp(name, "solo-renamed") == 0 && strcmp(data, "") == 0,
              "after peko_update the local entry is (\"%s\", \"%s\")", name, data);

    /* bad attributes are refused and change nothing */
    CHECK_STATUS(peko_update(node, "\xff\xfe", "x"), PEKO_ERR_INVALID_ARG);
    {
        char big[1100];
        memset(big, 'b', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        CHECK_STATUS(peko_update(node, "ok", big), PEKO_ERR_INVALID_ARG);
    }
    list_lookup(node, port, &found, name, sizeof name, data, sizeof data);
    CHECK(strcmp(name, "solo-renamed") == 0 && strcmp(data, "") == 0);

    /* a lone member has nobody to tell: leave completes at once */
    CHECK_OK(peko_leave(node, 2000));
    CHECK_OK(peko_leave(node, 0)); /* second leave: nothing to do */
    CHECK_STATUS(peko_update(node, "late", NULL), PEKO_ERR_STATE);

    fd = peko_event_fd(node);
    CHECK(fd >= 0);
    peko_free(node);
    /* "owned by the node (closed by peko_free)"; no other thread of this
     * process opens descriptors now, so the number is not reused yet */
    errno = 0;
    CHECK_MSG(fcntl(fd, F_GETFD) == -1 && errno == EBADF,
              "event fd %d still open after peko_free", fd);
}

/* Two members. alpha sees beta JOINED (with beta's name and data); beta calls
 * peko_update and alpha sees UPDATED with the new name (read through the event
 * fd); beta calls peko_leave and alpha sees LEFT, long before the failure
 * detector would have said FAILED; members_alive follows: 1, 2, 1. */
static void test_events_join_update_leave(void)
{
    peko_config cfg = loopback_config();
    uint16_t pa, pb;
    peko_node *a, *b;
    peko_node_info seed;
    peko_event ev;
    peko_stats_t st;
    double t0, deadline;
    int fd, got;

    /* a generous timeout: only a graceful leave can remove beta within it */
    cfg.timeout_ms = 10000;
    a = joined_node(&cfg, "alpha", "alpha-data", &pa);
    fd = peko_event_fd(a);
    CHECK(fd >= 0);
    CHECK(stats_of(a).members_alive == 1);

    b = new_node(&cfg, 0, "beta", "beta-data");
    seed = member("127.0.0.1", pa, NULL, NULL);
    CHECK_OK(peko_set(b, &seed));
    CHECK_OK(peko_join(b));
    pb = local_port(b);

    /* JOINED */
    t0 = now_s();
    deadline = t0 + CLUSTER_DEADLINE_S;
    for (got = 0; !got;) {
        CHECK_MSG(next_event_until(a, deadline, &ev), "alpha saw no JOINED for beta in %.0f s",
                  CLUSTER_DEADLINE_S);
        if (ev.member.port == pb) {
            CHECK_MSG(ev.kind == PEKO_EVENT_JOINED, "first event for beta is %s, not JOINED",
                      event_kind_name(ev.kind));
            CHECK(strcmp(ev.member.name, "beta") == 0);
            CHECK(strcmp(ev.member.private_data, "beta-data") == 0);
            got = 1;
        }
        clear_event(&ev);
    }
    printf("    JOINED after %.2f s\n", now_s() - t0);
    wait_members_alive(a, 2, "alpha");
    wait_members_alive(b, 2, "beta");
    st = stats_of(a);
    CHECK(st.packets_sent > 0 && st.bytes_sent > 0);
    CHECK(st.packets_received > 0 && st.bytes_received > 0);
    CHECK(st.dropped_auth == 0);
    printf("    alpha: members_alive %lu, suspect %lu, sent %lu/%lu B, received %lu/%lu B, "
           "anti-entropy %lu, round %lu\n",
           (unsigned long)st.members_alive, (unsigned long)st.members_suspect,
           (unsigned long)st.packets_sent, (unsigned long)st.bytes_sent,
           (unsigned long)st.packets_received, (unsigned long)st.bytes_received,
           (unsigned long)st.anti_entropy_exchanges, (unsigned long)st.round);
    drain_events(a, fd);

    /* UPDATED, through the event fd */
    CHECK_OK(peko_update(b, "beta-renamed", "beta-data-2"));
    t0 = now_s();
    deadline = t0 + CLUSTER_DEADLINE_S;
    for (got = 0; !got;) {
        CHECK_MSG(poll_event_until(a, fd, deadline, &ev),
                  "alpha saw no UPDATED for beta in %.0f s", CLUSTER_DEADLINE_S);
        if (ev.member.port == pb) {
            CHECK_MSG(ev.kind == PEKO_EVENT_UPDATED, "%s for beta while waiting for UPDATED",
                      event_kind_name(ev.kind));
            if (strcmp(ev.member.name, "beta-renamed") == 0) {
                CHECK(strcmp(ev.member.private_data, "beta-data-2") == 0);
                got = 1;
            }
        }
        clear_event(&ev);
    }
    printf("    UPDATED after %.2f s\n", now_s() - t0);
    {
        char name[64], data[64];
        int found;
        list_lookup(a, pb, &found, name, sizeof name, data, sizeof data);
        CHECK(found);
        CHECK_MSG(strcmp(name, "beta-renamed") == 0 && strcmp(data, "beta-data-2") == 0,
                  "alpha lists beta as (\"%s\", \"%s\") after UPDATED", name, data);
    }
    drain_events(a, fd);

    /* LEFT */
    t0 = now_s();
    CHECK_OK(peko_leave(b, 2000));
    printf("    peko_leave returned after %.3f s\n", now_s() - t0);
    CHECK_OK(peko_leave(b, 2000)); /* a second leave does nothing */
    CHECK_STATUS(peko_update(b, "too-late", NULL), PEKO_ERR_STATE);
    deadline = t0 + CLUSTER_DEADLINE_S;
    for (got = 0; !got;) {
        CHECK_MSG(poll_event_until(a, fd, deadline, &ev),
                  "alpha saw no LEFT for beta in %.0f s", CLUSTER_DEADLINE_S);
        if (ev.member.port == pb && ev.kind != PEKO_EVENT_UPDATED) {
            CHECK_MSG(ev.kind == PEKO_EVENT_LEFT, "%s for beta after peko_leave, expected LEFT",
                      event_kind_name(ev.kind));
            CHECK_MSG(strcmp(ev.member.name, "") == 0, "LEFT event name \"%s\"",
                      ev.member.name);
            got = 1;
        }
        clear_event(&ev);
    }
    printf("    LEFT after %.2f s\n", now_s() - t0);
    wait_members_alive(a, 1, "alpha");
    {
        size_t count;
        CHECK(!has_member(a, pb, &count));
        CHECK(count == 1);
    }
    drain_events(a, fd);

    peko_free(b);
    peko_free(a);
}

/* A UDP socket on a loopback port that reads nothing and answers nothing: a
 * member that never speaks. Holding the port (rather than picking one that was
 * free a moment ago) means no other process can start answering there. */
static int silent_udp_socket(uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK_MSG(fd >= 0, "socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_MSG(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind: %s", strerror(errno));
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    *port = ntohs(sa.sin_port);
    CHECK(*port != 0);
    return fd;
}

/* A member given by peko_set that never answers ends with FAILED (not LEFT). */
static void test_event_failed_for_silent_peer(void)
{
    peko_config cfg = loopback_config(); /* timeout_ms 2000 */
    uint16_t pa, silent;
    int sock = silent_udp_socket(&silent);
    peko_node *a;
    peko_node_info peer;
    peko_event ev;
    double t0, deadline;
    int got;

    a = joined_node(&cfg, "alpha", "", &pa);
    peer = member("127.0.0.1", silent, "ghost", NULL);
    CHECK_OK(peko_set(a, &peer));
    t0 = now_s();
    deadline = t0 + CLUSTER_DEADLINE_S;
    for (got = 0; !got;) {
        CHECK_MSG(next_event_until(a, deadline, &ev),
                  "no FAILED for the silent peer in %.0f s", CLUSTER_DEADLINE_S);
        if (ev.member.port == silent) {
            CHECK_MSG(ev.kind == PEKO_EVENT_FAILED || ev.kind == PEKO_EVENT_JOINED,
                      "%s for a peer that never answered", event_kind_name(ev.kind));
            got = ev.kind == PEKO_EVENT_FAILED;
        }
        clear_event(&ev);
    }
    printf("    FAILED after %.2f s (timeout_ms %u)\n", now_s() - t0, (unsigned)cfg.timeout_ms);
    wait_members_alive(a, 1, "alpha");
    peko_free(a);
    close(sock);
}

/* ---- host logger ---- */

struct log_counts {
    unsigned long lines, info, errors;
    unsigned long bad_userdata, bad_level, bad_line;
    char last[256];
};

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct log_counts g_log; /* under g_log_mu; its address is the userdata */

/* Called on the library's threads (and on ours): count only, never CHECK. */
static void count_log_line(void *userdata, uint32_t level, const char *line)
{
    pthread_mutex_lock(&g_log_mu);
    g_log.lines++;
    if (userdata != (void *)&g_log)
        g_log.bad_userdata++;
    if (level == PEKO_LOG_INFO)
        g_log.info++;
    else if (level == PEKO_LOG_ERROR)
        g_log.errors++;
    else
        g_log.bad_level++;
    if (line == NULL || line[0] == '\0')
        g_log.bad_line++;
    else
        snprintf(g_log.last, sizeof g_log.last, "%s", line);
    pthread_mutex_unlock(&g_log_mu);
}

static struct log_counts log_snapshot(void)
{
    struct log_counts s;
    pthread_mutex_lock(&g_log_mu);
    s = g_log;
    pthread_mutex_unlock(&g_log_mu);
    return s;
}

static void test_set_log_callback(void)
{
    peko_config cfg = loopback_config(); /* is_print false */
    uint16_t pa, pb;
    peko_node *a, *b;
    peko_node_info seed;
    struct log_counts s;
    unsigned long before;
    double deadline;
    size_t count;

    CHECK_OK(peko_set_log(count_log_line, &g_log, PEKO_LOG_INFO));
    a = joined_node(&cfg, "alpha", "", &pa);
    b = new_node(&cfg, 0, "beta", "");
    seed = member("127.0.0.1", pa, NULL, NULL);
    CHECK_OK(peko_set(b, &seed));
    CHECK_OK(peko_join(b));
    pb = local_port(b);

    /* informational lines arrive although is_print is false */
    deadline = now_s() + CLUSTER_DEADLINE_S;
    while (!has_member(a, pb, &count) || log_snapshot().info < 3) {
        CHECK_MSG(now_s() < deadline, "only %lu log lines in %.0f s", log_snapshot().lines,
                  CLUSTER_DEADLINE_S);
        sleep_ms(20);
    }
    s = log_snapshot();
    CHECK_MSG(s.bad_userdata == 0, "%lu calls with the wrong userdata", s.bad_userdata);
    CHECK_MSG(s.bad_level == 0, "%lu calls with an unknown level", s.bad_level);
    CHECK_MSG(s.bad_line == 0, "%lu calls with a NULL or empty line", s.bad_line);
    printf("    at PEKO_LOG_INFO: %lu lines (%lu info, %lu error); last: %s\n", s.lines,
           s.info, s.errors, s.last);

    /* PEKO_LOG_ERROR: no more informational lines (a line already on its way
     * when the level changed may still land, so let those settle first) */
    CHECK_OK(peko_set_log(count_log_line, &g_log, PEKO_LOG_ERROR));
    sleep_ms(300);
    before = log_snapshot().info;
    CHECK_OK(peko_update(b, "beta-2", NULL));
    CHECK_OK(peko_publish(a, (const uint8_t *)"m", 1));
    sleep_ms(500);
    s = log_snapshot();
    CHECK_MSG(s.info == before, "%lu informational lines at PEKO_LOG_ERROR",
              s.info - before);

    /* back to INFO: they come again */
    CHECK_OK(peko_set_log(count_log_line, &g_log, PEKO_LOG_INFO));
    before = log_snapshot().info;
    CHECK_OK(peko_update(b, "beta-3", NULL));
    deadline = now_s() + CLUSTER_DEADLINE_S;
    while (log_snapshot().info == before) {
        CHECK_MSG(now_s() < deadline, "no informational line after going back to INFO");
        sleep_ms(20);
    }

    /* NULL restores the console: the callback is not called any more */
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));
    sleep_ms(300);
    before = log_snapshot().lines;
    CHECK_OK(peko_update(b, "beta-4", NULL));
    CHECK_OK(peko_publish(a, (const uint8_t *)"n", 1));
    sleep_ms(500);
    CHECK_MSG(log_snapshot().lines == before, "%lu lines reached the callback after NULL",
              log_snapshot().lines - before);

    peko_free(b);
    peko_free(a);
    s = log_snapshot();
    CHECK(s.bad_userdata == 0 && s.bad_level == 0 && s.bad_line == 0);
}

/* "never while a library lock is held": a logger may call back into the
 * library (here peko_stats and peko_get on a member) without a deadlock. */
static pthread_mutex_t g_reentrant_mu = PTHREAD_MUTEX_INITIALIZER;
static peko_node *g_reentrant_node; /* under g_reentrant_mu */
static unsigned long g_reentrant_calls, g_reentrant_failures;

static void reentrant_log_line(void *userdata, uint32_t level, const char *line)
{
    (void)userdata;
    (void)level;
    (void)line;
    pthread_mutex_lock(&g_reentrant_mu);
    if (g_reentrant_node != NULL) {
        peko_stats_t st;
        peko_node_info *nodes = NULL;
        size_t count = 0;
        if (peko_stats(g_reentrant_node, &st) == PEKO_OK &&
            peko_get(g_reentrant_node, &nodes, &count) == PEKO_OK) {
            peko_nodes_free(nodes, count);
            g_reentrant_calls++;
        } else {
            g_reentrant_failures++;
        }
    }
    pthread_mutex_unlock(&g_reentrant_mu);
}

static void test_set_log_reentrant(void)
{
    peko_config cfg = loopback_config();
    uint16_t pa;
    peko_node *a = joined_node(&cfg, "alpha", "", &pa);
    peko_node *b = new_node(&cfg, 0, "beta", "");
    peko_node_info seed = member("127.0.0.1", pa, NULL, NULL);
    double deadline = now_s() + CLUSTER_DEADLINE_S;
    unsigned long calls = 0, failures = 0;

    pthread_mutex_lock(&g_reentrant_mu);
    g_reentrant_node = a;
    pthread_mutex_unlock(&g_reentrant_mu);
    CHECK_OK(peko_set_log(reentrant_log_line, NULL, PEKO_LOG_INFO));
    CHECK_OK(peko_set(b, &seed));
    CHECK_OK(peko_join(b));          /* logs on this thread */
    CHECK_OK(peko_update(a, "alpha-2", NULL));
    while (calls < 5) {
        CHECK_MSG(now_s() < deadline, "only %lu re-entrant log calls in %.0f s", calls,
                  CLUSTER_DEADLINE_S);
        sleep_ms(20);
        pthread_mutex_lock(&g_reentrant_mu);
        calls = g_reentrant_calls;
        failures = g_reentrant_failures;
        pthread_mutex_unlock(&g_reentrant_mu);
    }
    CHECK_MSG(failures == 0, "%lu re-entrant calls failed", failures);
    printf("    %lu log lines, each calling peko_stats + peko_get\n", calls);

    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));
    /* a callback may still be running after peko_set_log returns: take the
     * node away under the lock the callback holds before freeing it */
    pthread_mutex_lock(&g_reentrant_mu);
    g_reentrant_node = NULL;
    pthread_mutex_unlock(&g_reentrant_mu);
    peko_free(b);
    peko_free(a);
}

/* ---- runner --------------------------------------------------------------- */

static const struct test_case tests[] = {
    TEST_CASE(test_status_codes_values),
    TEST_CASE(test_status_str_every_code),
    TEST_CASE(test_version_non_empty),
    TEST_CASE(test_free_null_is_noop),
    TEST_CASE(test_config_default),
    TEST_CASE(test_null_args),
    TEST_CASE(test_bad_address),
    TEST_CASE(test_invalid_utf8),
    TEST_CASE(test_invalid_protocol),
    TEST_CASE(test_last_error_truncation),
    TEST_CASE(test_read_before_publish),
    TEST_CASE(test_read_two_call),
    TEST_CASE(test_publish_too_large),
    TEST_CASE(test_local_port),
    TEST_CASE(test_double_join),
    TEST_CASE(test_port_in_use),
    TEST_CASE(test_get_local_member),
    TEST_CASE(test_stop_start),
    TEST_CASE(test_threads_share_handle),
    TEST_CASE(test_two_node_cluster_udp),
    TEST_CASE(test_two_node_cluster_tcp_with_key),
    TEST_CASE(test_status_str_timeout),
    TEST_CASE(test_new_api_null_args),
    TEST_CASE(test_next_event_timeout),
    TEST_CASE(test_stats_and_update_lone),
    TEST_CASE(test_events_join_update_leave),
    TEST_CASE(test_event_failed_for_silent_peer),
    TEST_CASE(test_set_log_callback),
    TEST_CASE(test_set_log_reentrant),
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return harness_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
