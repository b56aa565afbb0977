/*
 * One member's life: the bound port, a refused second join, a port in use (and
 * free again once peko_free returns), its own entry in the list, stop/start,
 * counters, peko_update and peko_leave on a lone member, and the event fd
 * closed by peko_free.
 */
#include "harness.h"

#include <fcntl.h>
#include <unistd.h>

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

/* A lone member: counters are sane, rounds advance, the member is its own list;
 * peko_update changes the local entry at once; the fd closes with peko_free. */
static void test_stats_and_update_lone(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node = joined_node(&cfg, "solo", "solo-data", &port);
    peko_stats_t st = stats_of(node);
    char name[64], data[64];
    int found, fd;

    CHECK_MSG(st.members_alive == 1, "lone member: members_alive %lu",
              (unsigned long)st.members_alive);
    CHECK(st.members_suspect == 0);
    CHECK(st.dropped_auth == 0 && st.dropped_malformed == 0);
    WAIT_UNTIL((st = stats_of(node)).round != 0, "no gossip round counted");
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

static const struct test_case cases[] = {
    TEST_CASE(test_local_port),
    TEST_CASE(test_double_join),
    TEST_CASE(test_port_in_use),
    TEST_CASE(test_get_local_member),
    TEST_CASE(test_stop_start),
    TEST_CASE(test_stats_and_update_lone),
};

const struct test_suite lifecycle_suite = TEST_SUITE("lifecycle", cases);
