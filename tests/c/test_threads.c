/*
 * Several threads on one handle at once: peko_get, peko_publish, peko_read and
 * peko_set (with peko_local_port and peko_last_error) from four threads.
 */
#include "harness.h"

#include <pthread.h>

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

static const struct test_case cases[] = {
    TEST_CASE(test_threads_share_handle),
};

const struct test_suite threads_suite = TEST_SUITE("threads", cases);
