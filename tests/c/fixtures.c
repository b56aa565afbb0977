/*
 * What the C tests share beyond the harness: loopback members, member-list and
 * metadata lookups, counters, and the waits built on them (see harness.h).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* ---- members on loopback -------------------------------------------------- */

peko_config loopback_config(void)
{
    peko_config cfg;
    peko_config_default(&cfg);
    cfg.listen_addr = "127.0.0.1";
    cfg.cycle_ms = 100;
    cfg.timeout_ms = 2000;
    return cfg;
}

peko_node_info member(const char *addr, uint16_t port, const char *name, const char *data)
{
    peko_node_info info;
    info.addr = addr;
    info.port = port;
    info.name = name;
    info.private_data = data;
    return info;
}

peko_node *new_node(const peko_config *cfg, uint16_t port, const char *name,
                    const char *data)
{
    peko_node *node = NULL;
    peko_node_info local = member("127.0.0.1", port, name, data);
    CHECK_OK(peko_new(cfg, &local, &node));
    CHECK(node != NULL);
    return node;
}

uint16_t local_port(peko_node *node)
{
    uint16_t port = 0;
    CHECK_OK(peko_local_port(node, &port));
    return port;
}

peko_node *joined_node(const peko_config *cfg, const char *name, const char *data,
                       uint16_t *port_out)
{
    peko_node *node = new_node(cfg, 0, name, data);
    CHECK_OK(peko_join(node));
    *port_out = local_port(node);
    CHECK_MSG(*port_out != 0, "peko_local_port after join returned 0");
    return node;
}

size_t list_lookup(peko_node *node, uint16_t port, int *found, char *name,
                   size_t name_cap, char *data, size_t data_cap)
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

int has_member(peko_node *node, uint16_t port, size_t *count)
{
    int found;
    *count = list_lookup(node, port, &found, NULL, 0, NULL, 0);
    return found;
}

/* ---- metadata ------------------------------------------------------------- */

size_t read_metadata(peko_node *node, uint8_t *buf, size_t cap)
{
    size_t len = (size_t)-1;
    CHECK_OK(peko_read(node, buf, cap, &len));
    CHECK(len <= cap);
    return len;
}

/* Whether the metadata is data[0..len); *got_len is the length read. */
static int metadata_is(peko_node *node, const void *data, size_t len, size_t *got_len)
{
    uint8_t buf[64];
    *got_len = read_metadata(node, buf, sizeof buf);
    return *got_len == len && memcmp(buf, data, len) == 0;
}

void wait_metadata(peko_node *node, const void *data, size_t len, const char *who)
{
    size_t got = 0;
    CHECK(len <= 64);
    WAIT_UNTIL(metadata_is(node, data, len, &got),
               "%s: the metadata never became the expected %lu bytes in %.0f s "
               "(%lu bytes read last)",
               who, (unsigned long)len, CLUSTER_DEADLINE_S, (unsigned long)got);
}

/* ---- counters --------------------------------------------------------------- */

int is_poisoned(const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i] != POISON)
            return 0;
    return 1;
}

peko_stats_t stats_of(peko_node *node)
{
    peko_stats_t st;
    memset(&st, POISON, sizeof st);
    CHECK_OK(peko_stats(node, &st));
    CHECK(!is_poisoned(&st, sizeof st));
    return st;
}

void wait_members_alive(peko_node *node, uint64_t want, const char *who)
{
    WAIT_UNTIL(stats_of(node).members_alive == want,
               "%s: members_alive stayed %lu, expected %lu", who,
               (unsigned long)stats_of(node).members_alive, (unsigned long)want);
}

void wait_rounds(peko_node *node, uint64_t rounds, const char *who)
{
    uint64_t from = stats_of(node).round;
    WAIT_UNTIL(stats_of(node).round >= from + rounds,
               "%s: %lu of %lu gossip rounds in %.0f s", who,
               (unsigned long)(stats_of(node).round - from), (unsigned long)rounds,
               CLUSTER_DEADLINE_S);
}

/* ---- sockets -------------------------------------------------------------- */

int bound_loopback_socket(int type, uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, type, 0);
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
