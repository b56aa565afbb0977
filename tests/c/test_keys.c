/*
 * C tests for encryption: the keyring calls (install, use, remove, list, id),
 * the encryption modes, the cluster label, and a key rotated on a running
 * three-member cluster without a removal.
 *
 * The "keys" suite of build/tests/test_api (see test_main.c). Only 127.0.0.1
 * is used; ports are chosen by the OS.
 */
#include "harness.h"

static peko_config keyed_config(const char *secret)
{
    peko_config cfg = loopback_config();
    cfg.secret_key = secret;
    return cfg;
}

static uint64_t counter(peko_node *node, uint32_t id)
{
    uint64_t v = 0;
    CHECK_OK(peko_counter(node, id, &v));
    return v;
}

static void set_peer(peko_node *node, uint16_t port)
{
    peko_node_info peer = member("127.0.0.1", port, NULL, NULL);
    CHECK_OK(peko_set(node, &peer));
}

/* The keyring listed as text, into buf (cap bytes); its length with the NUL. */
static size_t key_list(peko_node *node, char *buf, size_t cap)
{
    size_t len = 0;
    CHECK_OK(peko_key_list(node, buf, cap, &len));
    CHECK(len == strlen(buf) + 1);
    return len;
}

static void key_calls_check_their_arguments(void)
{
    peko_config cfg = loopback_config();
    peko_node *n = new_node(&cfg, 0, "keys", NULL);
    char id_a[PEKO_KEY_ID_LEN + 1], id_b[PEKO_KEY_ID_LEN + 1], list[256];
    size_t len = 0;

    /* No key yet: an empty list, plain frames, and no way to require sealed ones. */
    CHECK(key_list(n, list, sizeof list) == 1 && list[0] == '\0');
    uint32_t mode = 0;
    CHECK_OK(peko_encryption_get(n, &mode));
    CHECK(mode == PEKO_ENCRYPTION_ACCEPT);
    CHECK_STATUS(peko_encryption_set(n, PEKO_ENCRYPTION_SEND), PEKO_ERR_STATE);
    CHECK_STATUS(peko_encryption_set(n, PEKO_ENCRYPTION_REQUIRE), PEKO_ERR_STATE);
    CHECK_STATUS(peko_encryption_set(n, 0), PEKO_ERR_INVALID_ARG);
    CHECK_STATUS(peko_encryption_set(n, 4), PEKO_ERR_INVALID_ARG);

    CHECK_STATUS(peko_key_install(n, NULL), PEKO_ERR_NULL_ARG);
    CHECK_STATUS(peko_key_install(n, ""), PEKO_ERR_INVALID_ARG);
    CHECK_STATUS(peko_key_install(NULL, "a"), PEKO_ERR_NULL_ARG);
    CHECK_OK(peko_key_install(n, "a"));
    CHECK_OK(peko_key_install(n, "a")); /* twice: nothing changes */
    CHECK_OK(peko_key_install(n, "b"));

    /* The list: ids, the primary (the first installed) first, each ended by '\n'. */
    CHECK_OK(peko_key_id("a", id_a, sizeof id_a));
    CHECK_OK(peko_key_id("b", id_b, sizeof id_b));
    CHECK(strlen(id_a) == PEKO_KEY_ID_LEN && strcmp(id_a, id_b) != 0);
    CHECK_STATUS(peko_key_id("a", id_a, PEKO_KEY_ID_LEN), PEKO_ERR_BUFFER_TOO_SMALL);
    char want[64];
    snprintf(want, sizeof want, "%s\n%s\n", id_a, id_b);
    CHECK(key_list(n, list, sizeof list) == strlen(want) + 1);
    CHECK(strcmp(list, want) == 0);
    /* Too small: the length needed, and the buffer untouched. */
    memset(list, POISON, sizeof list);
    CHECK_STATUS(peko_key_list(n, list, 5, &len), PEKO_ERR_BUFFER_TOO_SMALL);
    CHECK(len == strlen(want) + 1);
    CHECK(is_poisoned(list, sizeof list));
    CHECK_STATUS(peko_key_list(n, NULL, 0, &len), PEKO_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(peko_key_list(n, list, sizeof list, NULL), PEKO_ERR_NULL_ARG);

    /* The primary cannot go; another can; unknown keys are refused. */
    CHECK_STATUS(peko_key_remove(n, "a"), PEKO_ERR_STATE);
    CHECK_STATUS(peko_key_remove(n, "c"), PEKO_ERR_INVALID_ARG);
    CHECK_STATUS(peko_key_use(n, "c"), PEKO_ERR_INVALID_ARG);
    CHECK_OK(peko_key_use(n, "b"));
    snprintf(want, sizeof want, "%s\n%s\n", id_b, id_a);
    key_list(n, list, sizeof list);
    CHECK(strcmp(list, want) == 0);
    CHECK_OK(peko_key_remove(n, "a"));
    snprintf(want, sizeof want, "%s\n", id_b);
    key_list(n, list, sizeof list);
    CHECK(strcmp(list, want) == 0);

    /* With a key every mode may be set. */
    CHECK_OK(peko_encryption_set(n, PEKO_ENCRYPTION_REQUIRE));
    CHECK_OK(peko_encryption_get(n, &mode));
    CHECK(mode == PEKO_ENCRYPTION_REQUIRE);
    CHECK_OK(peko_encryption_set(n, PEKO_ENCRYPTION_ACCEPT));

    /* At most PEKO_KEYS_MAX keys. */
    for (int i = 1; i < (int)PEKO_KEYS_MAX; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(peko_key_install(n, k));
    }
    CHECK_STATUS(peko_key_install(n, "one too many"), PEKO_ERR_STATE);

    /* The label: before join only, at most PEKO_LABEL_MAX bytes. */
    char long_label[PEKO_LABEL_MAX + 2];
    memset(long_label, 'x', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = '\0';
    CHECK_STATUS(peko_label_set(n, long_label), PEKO_ERR_INVALID_ARG);
    long_label[PEKO_LABEL_MAX] = '\0';
    CHECK_OK(peko_label_set(n, long_label));
    CHECK_OK(peko_label_set(n, NULL));
    CHECK_OK(peko_join(n));
    CHECK_STATUS(peko_label_set(n, "late"), PEKO_ERR_STATE);
    peko_free(n);
}

/* A configured secret is the primary, and the member requires sealed frames. */
static void a_configured_secret_is_the_primary(void)
{
    peko_config cfg = keyed_config("s3cret");
    peko_node *n = new_node(&cfg, 0, "keyed", NULL);
    char id[PEKO_KEY_ID_LEN + 1], list[64], want[64];
    CHECK_OK(peko_key_id("s3cret", id, sizeof id));
    snprintf(want, sizeof want, "%s\n", id);
    key_list(n, list, sizeof list);
    CHECK(strcmp(list, want) == 0);
    uint32_t mode = 0;
    CHECK_OK(peko_encryption_get(n, &mode));
    CHECK(mode == PEKO_ENCRYPTION_REQUIRE);
    peko_free(n);
}

/* Three members rotate their key (install, use, remove, each on every member,
 * rounds apart): every member stays listed throughout, and a member that has
 * only the old key is then refused. */
static void a_key_rotates_on_a_running_cluster(void)
{
    peko_config cfg = keyed_config("old");
    uint16_t ports[3];
    peko_node *n[3];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "r%d", i);
        n[i] = joined_node(&cfg, name, NULL, &ports[i]);
        if (i > 0)
            set_peer(n[i], ports[0]);
    }
    for (int i = 0; i < 3; i++)
        wait_members_alive(n[i], 3, "before the rotation");
    const char *steps[] = { "install", "use", "remove" };
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 3; i++) {
            if (s == 0)
                CHECK_OK(peko_key_install(n[i], "new"));
            else if (s == 1)
                CHECK_OK(peko_key_use(n[i], "new"));
            else
                CHECK_OK(peko_key_remove(n[i], "old"));
            /* Past the timeout (2 s) before the next member: the two keys meet. */
            wait_rounds(n[0], 25, steps[s]);
            for (int j = 0; j < 3; j++)
                CHECK_MSG(stats_of(n[j]).members_alive == 3, "%s: member %d lost one",
                          steps[s], j);
        }
    }
    uint64_t auth = counter(n[0], PEKO_COUNTER_DROPPED_AUTH);
    uint16_t out_port;
    peko_node *out = joined_node(&cfg, "outsider", NULL, &out_port);
    set_peer(out, ports[0]);
    WAIT_UNTIL(counter(n[0], PEKO_COUNTER_DROPPED_AUTH) > auth,
               "the outsider's frames never arrived");
    size_t count = 0;
    CHECK(!has_member(n[0], out_port, &count));
    peko_free(out);
    for (int i = 0; i < 3; i++)
        peko_free(n[i]);
}

/* Members with other labels do not list each other, and count the frames. */
static void other_labels_stay_apart(void)
{
    peko_config cfg = loopback_config();
    peko_node *a = new_node(&cfg, 0, "a", NULL);
    peko_node *b = new_node(&cfg, 0, "b", NULL);
    CHECK_OK(peko_label_set(a, "blue"));
    CHECK_OK(peko_label_set(b, "green"));
    CHECK_OK(peko_join(a));
    CHECK_OK(peko_join(b));
    set_peer(b, local_port(a));
    WAIT_UNTIL(counter(a, PEKO_COUNTER_DROPPED_LABEL) > 0, "a dropped nothing of b's");
    wait_rounds(a, 5, "a");
    size_t count = 0;
    CHECK(!has_member(a, local_port(b), &count));
    peko_free(a);
    peko_free(b);
}

static const struct test_case cases[] = {
    TEST_CASE(key_calls_check_their_arguments),
    TEST_CASE(a_configured_secret_is_the_primary),
    TEST_CASE(a_key_rotates_on_a_running_cluster),
    TEST_CASE(other_labels_stay_apart),
};

const struct test_suite keys_suite = TEST_SUITE("keys", cases);
