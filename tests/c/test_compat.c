/*
 * C tests for the Go pekonode compatibility mode: peko_compat_set/get and
 * their errors, the native-only calls refused in that mode, and two compat
 * members forming a cluster between themselves (the end of a migration).
 *
 * The "compat" suite of build/tests/test_api (see test_main.c). Only
 * 127.0.0.1 is used; ports are chosen by the OS.
 */
#include "harness.h"

/* Our own key: compat packets carry its MD5, so other programs' compat members
 * on this machine are ignored rather than merged into our lists. */
#define COMPAT_KEY "c-tests compat key"

static peko_config compat_config(void)
{
    peko_config cfg = loopback_config();
    cfg.timeout_ms = 1000;
    cfg.secret_key = COMPAT_KEY;
    return cfg;
}

static uint32_t compat_of(peko_node *node)
{
    uint32_t mode = 0xA5A5A5A5u;
    CHECK_OK(peko_compat_get(node, &mode));
    return mode;
}

static void compat_calls_check_their_arguments(void)
{
    peko_config cfg = loopback_config();
    peko_node *n = new_node(&cfg, 0, "compat", NULL);
    uint32_t mode;

    CHECK(compat_of(n) == PEKO_COMPAT_NATIVE);
    CHECK(PEKO_COMPAT_NATIVE == 0 && PEKO_COMPAT_GO_PEKONODE == 1);

    /* NULL pointers: an error, and the output untouched. */
    CHECK_STATUS(peko_compat_set(NULL, PEKO_COMPAT_GO_PEKONODE), PEKO_ERR_NULL_ARG);
    memset(&mode, POISON, sizeof mode);
    CHECK_STATUS(peko_compat_get(NULL, &mode), PEKO_ERR_NULL_ARG);
    CHECK(is_poisoned(&mode, sizeof mode));
    CHECK_STATUS(peko_compat_get(n, NULL), PEKO_ERR_NULL_ARG);

    /* Set and back, before join. */
    CHECK_OK(peko_compat_set(n, PEKO_COMPAT_GO_PEKONODE));
    CHECK(compat_of(n) == PEKO_COMPAT_GO_PEKONODE);
    CHECK_OK(peko_compat_set(n, PEKO_COMPAT_NATIVE));
    CHECK(compat_of(n) == PEKO_COMPAT_NATIVE);
    CHECK_OK(peko_compat_set(n, PEKO_COMPAT_GO_PEKONODE));

    /* Another value: refused, with a message, and the mode unchanged. */
    CHECK_STATUS(peko_compat_set(n, 2), PEKO_ERR_INVALID_ARG);
    CHECK(peko_last_error(NULL, 0) > 0);
    CHECK_STATUS(peko_compat_set(n, 0xFFFFFFFFu), PEKO_ERR_INVALID_ARG);
    CHECK(compat_of(n) == PEKO_COMPAT_GO_PEKONODE);
    /* The NULL node above changed nothing either. */
    CHECK_STATUS(peko_compat_set(NULL, PEKO_COMPAT_NATIVE), PEKO_ERR_NULL_ARG);
    CHECK(compat_of(n) == PEKO_COMPAT_GO_PEKONODE);

    /* After join: a state error in either direction; the mode still reads. */
    CHECK_OK(peko_join(n));
    CHECK_STATUS(peko_compat_set(n, PEKO_COMPAT_NATIVE), PEKO_ERR_STATE);
    CHECK_STATUS(peko_compat_set(n, PEKO_COMPAT_GO_PEKONODE), PEKO_ERR_STATE);
    CHECK(compat_of(n) == PEKO_COMPAT_GO_PEKONODE);
    peko_free(n);

    /* A native member joined: the same state error. */
    n = new_node(&cfg, 0, "native", NULL);
    CHECK_OK(peko_join(n));
    CHECK_STATUS(peko_compat_set(n, PEKO_COMPAT_GO_PEKONODE), PEKO_ERR_STATE);
    CHECK(compat_of(n) == PEKO_COMPAT_NATIVE);
    peko_free(n);
}

/* In the compat mode the key, encryption and label calls are state errors,
 * even with arguments the native mode takes, and change nothing. */
static void native_only_calls_are_refused(void)
{
    peko_config cfg = compat_config();
    peko_node *n = new_node(&cfg, 0, "compat", NULL);
    char list_before[128], list_after[128];
    size_t len = 0;
    uint32_t enc = 0;

    CHECK_OK(peko_key_install(n, "second")); /* native: so key_remove("second") is allowed */
    CHECK_OK(peko_key_list(n, list_before, sizeof list_before, &len));
    CHECK_OK(peko_compat_set(n, PEKO_COMPAT_GO_PEKONODE));

    CHECK_STATUS(peko_key_install(n, "third"), PEKO_ERR_STATE);
    CHECK_STATUS(peko_key_use(n, "second"), PEKO_ERR_STATE);
    CHECK_STATUS(peko_key_remove(n, "second"), PEKO_ERR_STATE);
    CHECK_STATUS(peko_encryption_set(n, PEKO_ENCRYPTION_ACCEPT), PEKO_ERR_STATE);
    CHECK_STATUS(peko_label_set(n, "blue"), PEKO_ERR_STATE);
    CHECK_STATUS(peko_label_set(n, NULL), PEKO_ERR_STATE);

    CHECK_OK(peko_key_list(n, list_after, sizeof list_after, &len));
    CHECK(strcmp(list_before, list_after) == 0);
    CHECK_OK(peko_encryption_get(n, &enc));
    CHECK(enc == PEKO_ENCRYPTION_REQUIRE);

    /* Back to native before join: the same calls work again. */
    CHECK_OK(peko_compat_set(n, PEKO_COMPAT_NATIVE));
    CHECK_OK(peko_key_use(n, "second"));
    CHECK_OK(peko_key_use(n, COMPAT_KEY));
    CHECK_OK(peko_key_remove(n, "second"));
    CHECK_OK(peko_label_set(n, NULL));

    /* And after join in the compat mode, still refused. */
    CHECK_OK(peko_compat_set(n, PEKO_COMPAT_GO_PEKONODE));
    CHECK_OK(peko_join(n));
    CHECK_STATUS(peko_key_install(n, "late"), PEKO_ERR_STATE);
    CHECK_STATUS(peko_encryption_set(n, PEKO_ENCRYPTION_SEND), PEKO_ERR_STATE);
    CHECK_STATUS(peko_label_set(n, "late"), PEKO_ERR_STATE);
    peko_free(n);
}

/* Whether `node` lists exactly two members, one of them 127.0.0.1:port with
 * the given name and private data. */
static int lists_peer(peko_node *node, uint16_t port, const char *name, const char *data,
                      size_t *count)
{
    char got_name[32] = "", got_data[32] = "";
    int found = 0;
    *count = list_lookup(node, port, &found, got_name, sizeof got_name, got_data,
                         sizeof got_data);
    return found && *count == 2 && strcmp(got_name, name) == 0 &&
           strcmp(got_data, data) == 0;
}

/* Whether alpha (a, port pa) and beta (b, port pb) list each other; both are
 * looked at every time, so a failure reports both counts. */
static int list_each_other(peko_node *a, uint16_t pa, peko_node *b, uint16_t pb, size_t *ca,
                           size_t *cb)
{
    int a_sees_b = lists_peer(a, pb, "beta", "beta-data", ca);
    int b_sees_a = lists_peer(b, pa, "alpha", "alpha-data", cb);
    return a_sees_b && b_sees_a;
}

/* Two compat members (no Go node left): they list each other, with names and
 * private data, and metadata published on either reaches the other. */
static void two_compat_members_form_a_cluster(void)
{
    peko_config cfg = compat_config();
    peko_node *a = new_node(&cfg, 0, "alpha", "alpha-data");
    peko_node *b = new_node(&cfg, 0, "beta", "beta-data");
    static const char from_a[] = "from alpha", from_b[] = "from beta";
    uint16_t pa, pb;
    size_t ca = 0, cb = 0;
    double t0 = now_s();

    CHECK_OK(peko_compat_set(a, PEKO_COMPAT_GO_PEKONODE));
    CHECK_OK(peko_compat_set(b, PEKO_COMPAT_GO_PEKONODE));
    CHECK_OK(peko_join(a));
    pa = local_port(a);
    peko_node_info seed = member("127.0.0.1", pa, NULL, NULL);
    CHECK_OK(peko_set(b, &seed));
    CHECK_OK(peko_join(b));
    pb = local_port(b);
    CHECK(pa != 0 && pb != 0 && pa != pb);

    WAIT_UNTIL(list_each_other(a, pa, b, pb, &ca, &cb),
               "the compat members never listed each other: alpha lists %lu, beta %lu",
               (unsigned long)ca, (unsigned long)cb);
    printf("    converged in %.2f s\n", now_s() - t0);

    CHECK_OK(peko_publish(a, (const uint8_t *)from_a, sizeof from_a - 1));
    wait_metadata(b, from_a, sizeof from_a - 1, "beta");
    CHECK_OK(peko_publish(b, (const uint8_t *)from_b, sizeof from_b - 1));
    wait_metadata(a, from_b, sizeof from_b - 1, "alpha");

    peko_free(b);
    peko_free(a);
}

static const struct test_case cases[] = {
    TEST_CASE(compat_calls_check_their_arguments),
    TEST_CASE(native_only_calls_are_refused),
    TEST_CASE(two_compat_members_form_a_cluster),
};

const struct test_suite compat_suite = TEST_SUITE("compat", cases);
