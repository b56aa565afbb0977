/*
 * What the calls report: the status codes and other ABI constants, their
 * strings, the per-thread last-error buffer, and the version string.
 */
#include "harness.h"

#include <pthread.h>

/* ---- status codes and strings --------------------------------------------- */

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

static void test_status_str_timeout(void)
{
    const char *s = peko_status_str(PEKO_ERR_TIMEOUT);
    CHECK(s != NULL && s[0] != '\0');
    CHECK_MSG(strcmp(s, peko_status_str(9999)) != 0,
              "PEKO_ERR_TIMEOUT reads like an unknown status: \"%s\"", s);
    CHECK(s == peko_status_str(PEKO_ERR_TIMEOUT)); /* static */
    printf("    PEKO_ERR_TIMEOUT -> %s\n", s);
}

/* ---- peko_last_error -------------------------------------------------------- */

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

/* A successful call clears this thread's message: after it, peko_last_error
 * says nothing rather than an old failure (issue 10). */
static void test_last_error_cleared_by_success(void)
{
    peko_config cfg = loopback_config();
    peko_node *node = new_node(&cfg, 0, "n", "");
    uint16_t port = 0;

    CHECK_STATUS(peko_stop(node), PEKO_ERR_STATE); /* before join */
    CHECK(peko_last_error(NULL, 0) > 0);
    CHECK_OK(peko_local_port(node, &port));
    CHECK_MSG(peko_last_error(NULL, 0) == 0,
              "peko_last_error still holds a message after a successful call");
    peko_free(node);
}

/* ---- version ---------------------------------------------------------------- */

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

static const struct test_case cases[] = {
    TEST_CASE(test_status_codes_values),
    TEST_CASE(test_status_str_every_code),
    TEST_CASE(test_status_str_timeout),
    TEST_CASE(test_last_error_truncation),
    TEST_CASE(test_last_error_cleared_by_success),
    TEST_CASE(test_version_non_empty),
};

const struct test_suite status_suite = TEST_SUITE("status", cases);
