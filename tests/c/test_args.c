/*
 * What the calls accept: peko_config_default, NULL in every required place
 * (an error code and a message, never a crash; outputs untouched), addresses
 * that are not IP literals, strings that are not UTF-8, and protocol values
 * out of range.
 */
#include "harness.h"

/* ---- defaults and no-ops ---------------------------------------------------- */

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
    /* The timeout is left to the rule every binding shares (0 = 5000 ms, or 10 cycles when
     * longer), so changing only the cycle keeps the defaults valid. */
    CHECK(cfg.timeout_ms == 0);
    cfg.cycle_ms = 2000;
    node = new_node(&cfg, 0, "d", "");
    peko_free(node);
}

/* ---- NULL arguments ------------------------------------------------------- */

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

static const struct test_case cases[] = {
    TEST_CASE(test_free_null_is_noop),
    TEST_CASE(test_config_default),
    TEST_CASE(test_null_args),
    TEST_CASE(test_new_api_null_args),
    TEST_CASE(test_bad_address),
    TEST_CASE(test_invalid_utf8),
    TEST_CASE(test_invalid_protocol),
};

const struct test_suite args_suite = TEST_SUITE("args", cases);
