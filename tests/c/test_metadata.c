/*
 * Cluster metadata on one member: peko_publish and peko_read, the "ask for the
 * length first" pattern, binary data, and the size limit.
 */
#include "harness.h"

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
        CHECK_OK(peko_publish(node, bin, sizeof bin));
        wait_metadata(node, bin, sizeof bin, "second publish");
    }
    peko_free(node);
}

static void test_publish_too_large(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node;
    uint8_t *big;
    size_t big_len = 16384 + 1;

    big = (uint8_t *)calloc(1, 70000);
    CHECK(big != NULL);

    /* default size is 16384 */
    node = joined_node(&cfg, "p", "", &port);
    CHECK_OK(peko_publish(node, (const uint8_t *)"keep", 4));
    CHECK_STATUS(peko_publish(node, big, big_len), PEKO_ERR_TOO_LARGE);
    CHECK(peko_last_error(NULL, 0) > 0);
    CHECK_STATUS(peko_publish(node, big, 65536), PEKO_ERR_TOO_LARGE);
    /* the rejected publish changed nothing */
    wait_metadata(node, "keep", 4, "after the rejected publishes");
    peko_free(node);

    /* an explicit size: exactly size is fine, one more is too large */
    cfg.size = 4096;
    node = joined_node(&cfg, "p", "", &port);
    CHECK_STATUS(peko_publish(node, big, 4097), PEKO_ERR_TOO_LARGE);
    CHECK_OK(peko_publish(node, big, 4096));
    peko_free(node);
    free(big);
}

static const struct test_case cases[] = {
    TEST_CASE(test_read_before_publish),
    TEST_CASE(test_read_two_call),
    TEST_CASE(test_publish_too_large),
};

const struct test_suite metadata_suite = TEST_SUITE("metadata", cases);
