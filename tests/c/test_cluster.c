/*
 * Two members on loopback converge (each lists the other with its own name and
 * private data) and metadata published on one reaches the other, over UDP and
 * over TCP with a shared key.
 */
#include "harness.h"

static void two_node_cluster(peko_config cfg)
{
    uint16_t pa, pb;
    peko_node *a = joined_node(&cfg, "alpha", "alpha-data", &pa);
    peko_node *b = new_node(&cfg, 0, "beta", "beta-data");
    peko_node_info seed = member("127.0.0.1", pa, "alpha", NULL);
    static const char meta[] = "hello from alpha";
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
    wait_metadata(b, meta, sizeof meta - 1, "beta");
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

static const struct test_case cases[] = {
    TEST_CASE(test_two_node_cluster_udp),
    TEST_CASE(test_two_node_cluster_tcp_with_key),
};

const struct test_suite cluster_suite = TEST_SUITE("cluster", cases);
