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

static void test_set_log_callback(void)
{
    peko_config cfg = loopback_config(); /* is_print false */
    uint16_t pa, pb;
    peko_node *a, *b;
    peko_node_info seed;
    struct log_counts s;
    unsigned long before;
    double deadline;
    size_t count;

    CHECK_OK(peko_set_log(count_log_line, &g_log, PEKO_LOG_INFO));
    a = joined_node(&cfg, "alpha", "", &pa);
    b = new_node(&cfg, 0, "beta", "");
    seed = member("127.0.0.1", pa, NULL, NULL);
    CHECK_OK(peko_set(b, &seed));
    CHECK_OK(peko_join(b));
    pb = local_port(b);

    /* informational lines arrive although is_print is false */
    deadline = now_s() + CLUSTER_DEADLINE_S;
    while (!has_member(a, pb, &count) || log_snapshot().info < 3) {
        CHECK_MSG(now_s() < deadline, "only %lu log lines in %.0f s", log_snapshot().lines,
                  CLUSTER_DEADLINE_S);
        sleep_ms(20);
    }
    s = log_snapshot();
    CHECK_MSG(s.bad_userdata == 0, "%lu calls with the wrong userdata", s.bad_userdata);
    CHECK_MSG(s.bad_level == 0, "%lu calls with an unknown level", s.bad_level);
    CHECK_MSG(s.bad_line == 0, "%lu calls with a NULL or empty line", s.bad_line);
    printf("    at PEKO_LOG_INFO: %lu lines (%lu info, %lu error); last: %s\n", s.lines,
           s.info, s.errors, s.last);

    /* PEKO_LOG_ERROR: no more informational lines (a line already on its way
     * when the level changed may still land, so let those settle first) */
    CHECK_OK(peko_set_log(count_log_line, &g_log, PEKO_LOG_ERROR));
    sleep_ms(300);
    before = log_snapshot().info;
    CHECK_OK(peko_update(b, "beta-2", NULL));
    CHECK_OK(peko_publish(a, (const uint8_t *)"m", 1));
    sleep_ms(500);
    s = log_snapshot();
    CHECK_MSG(s.info == before, "%lu informational lines at PEKO_LOG_ERROR",
              s.info - before);

    /* back to INFO: they come again */
    CHECK_OK(peko_set_log(count_log_line, &g_log, PEKO_LOG_INFO));
    before = log_snapshot().info;
    CHECK_OK(peko_update(b, "beta-3", NULL));
    deadline = now_s() + CLUSTER_DEADLINE_S;
    while (log_snapshot().info == before) {
        CHECK_MSG(now_s() < deadline, "no informational line after going back to INFO");
        sleep_ms(20);
    }

    /* NULL restores the console: the callback is not called any more */
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));
    sleep_ms(300);
    before = log_snapshot().lines;
    CHECK_OK(peko_update(b, "beta-4", NULL));
    CHECK_OK(peko_publish(a, (const uint8_t *)"n", 1));
    sleep_ms(500);
    CHECK_MSG(log_snapshot().lines == before, "%lu lines reached the callback after NULL",
              log_snapshot().lines - before);

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
    /* a callback may still be running after peko_set_log returns: take the
     * node away under the lock the callback holds before freeing it */
    pthread_mutex_lock(&g_reentrant_mu);
    g_reentrant_node = NULL;
    pthread_mutex_unlock(&g_reentrant_mu);
    peko_free(b);
    peko_free(a);
}

static const struct test_case cases[] = {
    TEST_CASE(test_set_log_callback),
    TEST_CASE(test_set_log_reentrant),
};

const struct test_suite log_suite = TEST_SUITE("log", cases);
