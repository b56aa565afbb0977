/*
 * The host logger (peko_set_log): lines reach the callback with its userdata
 * and a known level, the level filters them, NULL restores the console, and a
 * callback may call back into the library.
 */
#include "harness.h"

#include <pthread.h>

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

/* Gossip rounds each member runs after the work below has spread; at
 * PEKO_LOG_INFO each round checks whether the member list changed and logs it
 * if so. */
#define SETTLE_ROUNDS 5

static int listed_as(peko_node *node, uint16_t port, const char *name)
{
    char got[64];
    int found;
    list_lookup(node, port, &found, got, sizeof got, NULL, 0);
    return found && strcmp(got, name) == 0;
}

/* The positive marker for "no line reached the callback": after beta renamed
 * itself `name` and alpha published `meta`, waits until alpha lists beta as
 * `name` (alpha handled the update: an [Update] line), beta reads `meta` (beta
 * took the metadata: a [Metadata] line), and then each of them has run
 * SETTLE_ROUNDS more gossip rounds (each may log a [List] line). Every line that work
 * would log at PEKO_LOG_INFO has been logged, or not, by then. */
static void wait_loggable_work(peko_node *a, peko_node *b, uint16_t pb, const char *name,
                               const char *meta)
{
    WAIT_UNTIL(listed_as(a, pb, name), "alpha never listed beta as \"%s\" in %.0f s", name,
               CLUSTER_DEADLINE_S);
    wait_metadata(b, meta, strlen(meta), "beta");
    wait_rounds(a, SETTLE_ROUNDS, "alpha");
    wait_rounds(b, SETTLE_ROUNDS, "beta");
}

static void test_set_log_callback(void)
{
    peko_config cfg = loopback_config(); /* is_print false */
    uint16_t pa, pb;
    peko_node *a, *b;
    peko_node_info seed;
    struct log_counts s;
    unsigned long before;
    size_t count;

    CHECK_OK(peko_set_log(count_log_line, &g_log, PEKO_LOG_INFO));
    a = joined_node(&cfg, "alpha", "", &pa);
    b = new_node(&cfg, 0, "beta", "");
    seed = member("127.0.0.1", pa, NULL, NULL);
    CHECK_OK(peko_set(b, &seed));
    CHECK_OK(peko_join(b));
    pb = local_port(b);

    /* informational lines arrive although is_print is false */
    WAIT_UNTIL(has_member(a, pb, &count) && log_snapshot().info >= 3,
               "only %lu log lines in %.0f s", log_snapshot().lines, CLUSTER_DEADLINE_S);
    s = log_snapshot();
    CHECK_MSG(s.bad_userdata == 0, "%lu calls with the wrong userdata", s.bad_userdata);
    CHECK_MSG(s.bad_level == 0, "%lu calls with an unknown level", s.bad_level);
    CHECK_MSG(s.bad_line == 0, "%lu calls with a NULL or empty line", s.bad_line);
    printf("    at PEKO_LOG_INFO: %lu lines (%lu info, %lu error); last: %s\n", s.lines,
           s.info, s.errors, s.last);

    /* PEKO_LOG_ERROR: no more informational lines. peko_set_log returns only
     * once no call of the previous setting is still running on another thread
     * (the header says so), so no line already on its way can land after this
     * snapshot: nothing to let settle. */
    CHECK_OK(peko_set_log(count_log_line, &g_log, PEKO_LOG_ERROR));
    before = log_snapshot().info;
    CHECK_OK(peko_update(b, "beta-2", NULL));
    CHECK_OK(peko_publish(a, (const uint8_t *)"m", 1));
    wait_loggable_work(a, b, pb, "beta-2", "m");
    s = log_snapshot();
    CHECK_MSG(s.info == before, "%lu informational lines at PEKO_LOG_ERROR",
              s.info - before);
    printf("    at PEKO_LOG_ERROR: no informational line while beta-2 and \"m\" spread and "
           "each member ran %d rounds\n", SETTLE_ROUNDS);

    /* back to INFO: they come again */
    CHECK_OK(peko_set_log(count_log_line, &g_log, PEKO_LOG_INFO));
    before = log_snapshot().info;
    CHECK_OK(peko_update(b, "beta-3", NULL));
    WAIT_UNTIL(log_snapshot().info != before, "no informational line after going back to INFO");

    /* NULL restores the console: the callback is not called any more (from the
     * moment peko_set_log returns, as above) */
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));
    before = log_snapshot().lines;
    CHECK_OK(peko_update(b, "beta-4", NULL));
    CHECK_OK(peko_publish(a, (const uint8_t *)"n", 1));
    wait_loggable_work(a, b, pb, "beta-4", "n");
    CHECK_MSG(log_snapshot().lines == before, "%lu lines reached the callback after NULL",
              log_snapshot().lines - before);
    printf("    after NULL: no line while beta-4 and \"n\" spread and each member ran %d "
           "rounds\n", SETTLE_ROUNDS);

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
    /* peko_set_log(NULL) waited for running callbacks (test_set_log_callback
     * checks that); the node is still taken away under the callback's lock, so
     * this test does not depend on it */
    pthread_mutex_lock(&g_reentrant_mu);
    g_reentrant_node = NULL;
    pthread_mutex_unlock(&g_reentrant_mu);
    peko_free(b);
    peko_free(a);
}

/* The logger runs on the caller's thread inside peko_join (its "[Join]"
 * line); calling peko_stop on the joining node from there must not deadlock
 * on a guard peko_join holds.  A deadlock hangs the test until the harness's
 * per-test alarm fails it. */
static pthread_mutex_t g_join_mu = PTHREAD_MUTEX_INITIALIZER;
static peko_node *g_join_node; /* under g_join_mu */
static int g_join_stop_called;
static peko_status g_join_stop_status;

static void stop_on_join_line(void *userdata, uint32_t level, const char *line)
{
    peko_node *node = NULL;
    peko_status status;
    (void)userdata;
    (void)level;
    pthread_mutex_lock(&g_join_mu);
    if (g_join_node != NULL && !g_join_stop_called && strstr(line, "[Join]") != NULL) {
        g_join_stop_called = 1;
        node = g_join_node;
    }
    pthread_mutex_unlock(&g_join_mu);
    if (node == NULL)
        return;
    /* not under g_join_mu: peko_stop logs too, which calls back in here */
    status = peko_stop(node);
    pthread_mutex_lock(&g_join_mu);
    g_join_stop_status = status;
    pthread_mutex_unlock(&g_join_mu);
}

static void test_logger_may_call_back_during_join(void)
{
    peko_config cfg = loopback_config();
    peko_node *n = new_node(&cfg, 0, "joiner", "");
    int called;
    peko_status status;

    pthread_mutex_lock(&g_join_mu);
    g_join_node = n;
    pthread_mutex_unlock(&g_join_mu);
    CHECK_OK(peko_set_log(stop_on_join_line, NULL, PEKO_LOG_INFO));
    CHECK_OK(peko_join(n));
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));
    pthread_mutex_lock(&g_join_mu);
    called = g_join_stop_called;
    status = g_join_stop_status;
    g_join_node = NULL;
    pthread_mutex_unlock(&g_join_mu);
    CHECK_MSG(called, "no [Join] line reached the logger during peko_join");
    CHECK_MSG(status == PEKO_OK, "peko_stop from the logger returned %u", (unsigned)status);
    CHECK_OK(peko_start(n));
    peko_free(n);
}

/* peko_free from inside the logger, on one of the library's threads (the line
 * comes from the member's own receive or timer task): it must return at once
 * rather than wait for that task, which waits for the logger to return. The
 * member is closed and freed once the logger returned: its port can then be
 * bound again. A deadlock hangs the logger's thread, and this test fails at
 * its deadline. */
static pthread_mutex_t g_free_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t g_free_main;
static peko_node *g_free_node; /* under g_free_mu: freed by its first own line off the main thread */
static char g_free_label[64];  /* "] 127.0.0.1:port ": the member's own lines, not lines about it */
static int g_free_returned;    /* under g_free_mu */

static void free_on_background_line(void *userdata, uint32_t level, const char *line)
{
    peko_node *node = NULL;
    (void)userdata;
    (void)level;
    if (pthread_equal(pthread_self(), g_free_main))
        return;
    pthread_mutex_lock(&g_free_mu);
    if (g_free_node != NULL && strstr(line, g_free_label) != NULL) {
        node = g_free_node;
        g_free_node = NULL;
    }
    pthread_mutex_unlock(&g_free_mu);
    if (node == NULL)
        return;
    peko_free(node); /* not under g_free_mu: freeing logs too, which comes back here */
    pthread_mutex_lock(&g_free_mu);
    g_free_returned = 1;
    pthread_mutex_unlock(&g_free_mu);
}

static int free_returned(void)
{
    int r;
    pthread_mutex_lock(&g_free_mu);
    r = g_free_returned;
    pthread_mutex_unlock(&g_free_mu);
    return r;
}

/* Whether a new member can join on `port` (then it is freed again). */
static int port_free_again(const peko_config *cfg, uint16_t port)
{
    peko_node *n = new_node(cfg, port, "again", "");
    peko_status st = peko_join(n);
    peko_free(n);
    return st == PEKO_OK;
}

static void test_free_from_logger(void)
{
    peko_config cfg = loopback_config();
    uint16_t pa;
    peko_node *a = joined_node(&cfg, "alpha", "", &pa);
    peko_node *b = new_node(&cfg, 0, "beta", "");
    peko_node_info seed = member("127.0.0.1", pa, NULL, NULL);
    double t0;

    g_free_main = pthread_self();
    pthread_mutex_lock(&g_free_mu);
    g_free_node = a;
    snprintf(g_free_label, sizeof g_free_label, "] 127.0.0.1:%u ", (unsigned)pa);
    pthread_mutex_unlock(&g_free_mu);
    /* alpha logs "[Join] ... beta is alive" from its own receive task */
    CHECK_OK(peko_set_log(free_on_background_line, NULL, PEKO_LOG_INFO));
    CHECK_OK(peko_set(b, &seed));
    CHECK_OK(peko_join(b));
    WAIT_UNTIL(free_returned(), "peko_free from the logger has not returned after %.0f s",
               CLUSTER_DEADLINE_S);
    t0 = now_s();
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));
    WAIT_UNTIL(port_free_again(&cfg, pa), "port %u still bound after the deferred free",
               (unsigned)pa);
    printf("    peko_free returned inside the logger; port %u reusable %.3f s later\n",
           (unsigned)pa, now_s() - t0);
    peko_free(b);
}

static const struct test_case cases[] = {
    TEST_CASE(test_set_log_callback),
    TEST_CASE(test_free_from_logger),
    TEST_CASE(test_set_log_reentrant),
    TEST_CASE(test_logger_may_call_back_during_join),
};

const struct test_suite log_suite = TEST_SUITE("log", cases);
