/*
 * cluster_demo: five pekonode members in one process, on 127.0.0.1.
 *
 *   1. member-1 joins on a port the OS picks; members 2..5 join with member-1
 *      (and the member before them) as seeds; the lists converge to 5.
 *   2. member-3 publishes cluster metadata; every member reads it.
 *   3. member-5 stops (goes silent); the four others drop it.
 *   4. member-5 starts again; it is back in every list.
 *
 * Each step polls with a deadline and prints timestamped progress.  Exit
 * status 0 only if every step held; otherwise 1 and a message saying which.
 *
 * Run it with `make demo`.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pekonode.h"

#define MEMBERS 5
#define CYCLE_MS 200
#define TIMEOUT_MS 2000
#define STEP_DEADLINE_S 15.0
#define POLL_MS 50
#define STOPPED 4 /* index of member-5 */
#define PUBLISHER 2 /* index of member-3 */

static struct timespec t_start;

static double elapsed_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t_start.tv_sec) +
           (double)(now.tv_nsec - t_start.tv_nsec) / 1e9;
}

static void say(const char *fmt, ...)
{
    va_list ap;
    printf("[%7.3fs] ", elapsed_s());
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Returns 1 on PEKO_OK; otherwise prints the call, the status and this
 * thread's last error message, and returns 0. */
static int ok(peko_status st, const char *what, int member)
{
    char msg[512];
    if (st == PEKO_OK)
        return 1;
    msg[0] = '\0';
    peko_last_error(msg, sizeof msg);
    fprintf(stderr, "cluster_demo: FAILED: %s (member-%d): %s (%u): %s\n", what,
            member + 1, peko_status_str(st), (unsigned)st,
            msg[0] != '\0' ? msg : "(no message)");
    return 0;
}

static void fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cluster_demo: FAILED at %.3fs: ", elapsed_s());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

struct cluster {
    peko_node *node[MEMBERS];
    uint16_t port[MEMBERS];
    char name[MEMBERS][16];
};

/* What member i's list holds: its size, and which of the demo's members are
 * in it (by address and port). */
struct view {
    size_t count;
    int has[MEMBERS];
};

static int look(const struct cluster *c, int i, struct view *v)
{
    peko_node_info *nodes = NULL;
    size_t count = 0, k;
    int j;
    if (!ok(peko_get(c->node[i], &nodes, &count), "peko_get", i))
        return 0;
    v->count = count;
    for (j = 0; j < MEMBERS; j++) {
        v->has[j] = 0;
        for (k = 0; k < count; k++)
            if (nodes[k].port == c->port[j] && nodes[k].addr != NULL &&
                strcmp(nodes[k].addr, "127.0.0.1") == 0)
                v->has[j] = 1;
    }
    peko_nodes_free(nodes, count);
    return 1;
}

/* Formats "m1=5 m2=5 ..." for the members in `which` (or all). */
static void sizes_line(const struct view *v, const int *which, char *out, size_t cap)
{
    size_t used = 0;
    int i;
    out[0] = '\0';
    for (i = 0; i < MEMBERS && used < cap; i++) {
        int n;
        if (which != NULL && !which[i])
            continue;
        n = snprintf(out + used, cap - used, "%sm%d=%lu", used ? " " : "", i + 1,
                     (unsigned long)v[i].count);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Polls until every member in `which` lists exactly the members in
 * `expected` (by port), printing the list sizes each time they change. */
static int wait_for_lists(const struct cluster *c, const int *which,
                          const int *expected, const char *goal)
{
    struct view v[MEMBERS];
    char line[128], last[128] = "";
    double deadline = elapsed_s() + STEP_DEADLINE_S;
    size_t want = 0;
    int i, j;

    for (j = 0; j < MEMBERS; j++)
        want += expected[j] ? 1 : 0;

    for (;;) {
        int done = 1;
        for (i = 0; i < MEMBERS; i++) {
            if (!which[i])
                continue;
            if (!look(c, i, &v[i]))
                return 0;
            if (v[i].count != want)
                done = 0;
            for (j = 0; j < MEMBERS; j++)
                if (v[i].has[j] != expected[j])
                    done = 0;
        }
        sizes_line(v, which, line, sizeof line);
        if (strcmp(line, last) != 0) {
            say("  list sizes: %s", line);
            memcpy(last, line, sizeof last);
        }
        if (done) {
            say("  %s", goal);
            return 1;
        }
        if (elapsed_s() > deadline) {
            fail("not reached within %.0f s: %s (list sizes: %s; want %lu)",
                 STEP_DEADLINE_S, goal, line, (unsigned long)want);
            return 0;
        }
        sleep_ms(POLL_MS);
    }
}

static int start_members(struct cluster *c)
{
    peko_config cfg;
    int i;

    peko_config_default(&cfg);
    cfg.cycle_ms = CYCLE_MS;
    cfg.timeout_ms = TIMEOUT_MS;
    cfg.listen_addr = "127.0.0.1";

    for (i = 0; i < MEMBERS; i++) {
        peko_node_info local;
        char data[32];
        snprintf(c->name[i], sizeof c->name[i], "member-%d", i + 1);
        snprintf(data, sizeof data, "zone=%c", 'a' + i % 2);
        local.addr = "127.0.0.1";
        local.port = 0; /* the OS picks; peko_local_port tells which */
        local.name = c->name[i];
        local.private_data = data;
        if (!ok(peko_new(&cfg, &local, &c->node[i]), "peko_new", i))
            return 0;

        /* Seeds: member-1 for everyone, and the member just before. */
        if (i > 0) {
            int s;
            for (s = 0; s < 2; s++) {
                int seed = s == 0 ? 0 : i - 1;
                peko_node_info peer;
                if (s == 1 && seed == 0)
                    continue;
                peer.addr = "127.0.0.1";
                peer.port = c->port[seed];
                peer.name = c->name[seed];
                peer.private_data = NULL;
                if (!ok(peko_set(c->node[i], &peer), "peko_set", i))
                    return 0;
            }
        }
        if (!ok(peko_join(c->node[i]), "peko_join", i) ||
            !ok(peko_local_port(c->node[i], &c->port[i]), "peko_local_port", i))
            return 0;
        if (c->port[i] == 0) {
            fail("member-%d: peko_local_port returned 0 after join", i + 1);
            return 0;
        }
        if (i == 0)
            say("member-1 joined on 127.0.0.1:%u", c->port[i]);
        else if (i == 1)
            say("member-2 joined on 127.0.0.1:%u (seed member-1)", c->port[i]);
        else
            say("member-%d joined on 127.0.0.1:%u (seeds member-1, member-%d)",
                i + 1, c->port[i], i);
    }
    return 1;
}

static int publish_and_spread(const struct cluster *c)
{
    char msg[64];
    size_t msg_len;
    int got[MEMBERS] = { 0 };
    int remaining = MEMBERS, i;
    double t0 = elapsed_s(), deadline = t0 + STEP_DEADLINE_S;
    uint8_t buf[128];

    msg_len = (size_t)snprintf(msg, sizeof msg, "leader=member-3 epoch=%ld",
                               (long)time(NULL));
    say("member-3 publishes \"%s\" (%lu bytes)", msg, (unsigned long)msg_len);
    if (!ok(peko_publish(c->node[PUBLISHER], (const uint8_t *)msg, msg_len),
            "peko_publish", PUBLISHER))
        return 0;

    while (remaining > 0) {
        for (i = 0; i < MEMBERS; i++) {
            size_t len = 0;
            peko_status st;
            if (got[i])
                continue;
            st = peko_read(c->node[i], buf, sizeof buf, &len);
            if (st == PEKO_ERR_BUFFER_TOO_SMALL)
                continue; /* something bigger than ours: not it */
            if (!ok(st, "peko_read", i))
                return 0;
            if (len == msg_len && memcmp(buf, msg, msg_len) == 0) {
                got[i] = 1;
                remaining--;
                say("  member-%d reads it (+%.3fs)", i + 1, elapsed_s() - t0);
            }
        }
        if (remaining == 0)
            break;
        if (elapsed_s() > deadline) {
            fail("the metadata from member-3 did not reach %d member(s) within %.0f s",
                 remaining, STEP_DEADLINE_S);
            return 0;
        }
        sleep_ms(POLL_MS);
    }
    say("  every member has member-3's metadata");
    return 1;
}

int main(void)
{
    struct cluster c;
    int all[MEMBERS], others[MEMBERS], i, passed = 0;

    clock_gettime(CLOCK_MONOTONIC, &t_start);
    memset(&c, 0, sizeof c);
    for (i = 0; i < MEMBERS; i++) {
        all[i] = 1;
        others[i] = i != STOPPED;
    }

    say("pekonode %s: %d members on 127.0.0.1, cycle %d ms, timeout %d ms",
        peko_version(), MEMBERS, CYCLE_MS, TIMEOUT_MS);

    say("step 1: join");
    if (!start_members(&c))
        goto out;
    if (!wait_for_lists(&c, all, all, "every list has all 5 members"))
        goto out;

    say("step 2: publish metadata from member-3");
    if (!publish_and_spread(&c))
        goto out;

    say("step 3: stop member-5 (it goes silent)");
    if (!ok(peko_stop(c.node[STOPPED]), "peko_stop", STOPPED))
        goto out;
    if (!wait_for_lists(&c, others, others,
                        "member-5 is gone from the four other lists"))
        goto out;

    say("step 4: start member-5 again");
    if (!ok(peko_start(c.node[STOPPED]), "peko_start", STOPPED))
        goto out;
    if (!wait_for_lists(&c, all, all, "member-5 is back: every list has all 5"))
        goto out;

    passed = 1;

out:
    say("freeing the members");
    for (i = MEMBERS - 1; i >= 0; i--)
        peko_free(c.node[i]);
    if (!passed) {
        say("cluster_demo: FAILED (see the message above)");
        return 1;
    }
    say("cluster_demo: all steps held");
    return 0;
}
