/*
 * Membership events: peko_next_event (blocking, with a timeout) and the event
 * fd (poll, then read without waiting); JOINED, UPDATED and LEFT between two
 * members, FAILED for a peer that never answers.
 */
/* For syscall(SYS_gettid): a test below watches one thread's state in /proc. */
#define _GNU_SOURCE
#include "harness.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- reading events ---------------------------------------------------------- */

static const char *event_kind_name(uint32_t kind)
{
    switch (kind) {
    case PEKO_EVENT_JOINED: return "JOINED";
    case PEKO_EVENT_LEFT: return "LEFT";
    case PEKO_EVENT_FAILED: return "FAILED";
    case PEKO_EVENT_UPDATED: return "UPDATED";
    case PEKO_EVENT_METADATA: return "METADATA";
    default: return "?";
    }
}

/* Every event the library hands out: a known kind, three strings, nothing lost
 * (these clusters are far too small to fill the 1024-event queue). */
static void check_event(const peko_event *ev)
{
    CHECK_MSG(ev->kind >= PEKO_EVENT_JOINED && ev->kind <= PEKO_EVENT_METADATA,
              "event with unknown kind %u", (unsigned)ev->kind);
    CHECK_MSG(ev->member.addr != NULL && ev->member.name != NULL &&
                  ev->member.private_data != NULL,
              "%s event with a NULL string", event_kind_name(ev->kind));
    CHECK_MSG(strcmp(ev->member.addr, "127.0.0.1") == 0,
              "%s event for address \"%s\"", event_kind_name(ev->kind), ev->member.addr);
    CHECK_MSG(ev->lost == 0, "%s event says %lu events were lost",
              event_kind_name(ev->kind), (unsigned long)ev->lost);
    printf("    event %-8s 127.0.0.1:%u name \"%s\" data \"%s\"\n",
           event_kind_name(ev->kind), (unsigned)ev->member.port, ev->member.name,
           ev->member.private_data);
}

/* peko_event_clear frees the strings and NULLs them; a second clear is harmless. */
static void clear_event(peko_event *ev)
{
    peko_event_clear(ev);
    CHECK(ev->member.addr == NULL && ev->member.name == NULL &&
          ev->member.private_data == NULL);
    peko_event_clear(ev);
}

/* Blocking style: waits (peko_next_event with a timeout) until deadline for the
 * next event. Returns 1 with *ev filled, 0 when the deadline passed. */
static int next_event_until(peko_node *node, double deadline, peko_event *ev)
{
    for (;;) {
        peko_status st;
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        st = peko_next_event(node, left > 0.2 ? 200u : (uint32_t)(left * 1000) + 1, ev);
        if (st == PEKO_OK) {
            check_event(ev);
            return 1;
        }
        CHECK_MSG(st == PEKO_ERR_TIMEOUT, "peko_next_event returned %u (%s)",
                  (unsigned)st, peko_status_str(st));
    }
}

/* Descriptor style: poll()s the event fd until deadline, then reads with
 * peko_next_event(node, 0). We are the only reader, so "readable" must mean an
 * event is there: a readable fd with nothing to read is a failure. */
static int poll_event_until(peko_node *node, int fd, double deadline, peko_event *ev)
{
    for (;;) {
        struct pollfd p;
        int r, ms;
        peko_status st;
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        ms = left > 0.2 ? 200 : (int)(left * 1000) + 1;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        CHECK_MSG(r >= 0, "poll on the event fd: %s", strerror(errno));
        if (r == 0)
            continue;
        CHECK_MSG((p.revents & POLLIN) != 0, "event fd revents 0x%x", (unsigned)p.revents);
        st = peko_next_event(node, 0, ev);
        CHECK_MSG(st == PEKO_OK,
                  "event fd readable but peko_next_event(node, 0) returned %u (%s)",
                  (unsigned)st, peko_status_str(st));
        check_event(ev);
        return 1;
    }
}

/* Reads every pending event without waiting; the fd must then agree. */
static void drain_events(peko_node *node, int fd)
{
    peko_event ev;
    struct pollfd p;
    int rounds = 0;
    for (;;) {
        peko_status st = peko_next_event(node, 0, &ev);
        if (st == PEKO_ERR_TIMEOUT)
            break;
        CHECK_STATUS(st, PEKO_OK);
        check_event(&ev);
        clear_event(&ev);
        CHECK_MSG(++rounds < 10000, "the event queue never empties");
    }
    /* empty now: the fd is not readable, unless an event came in meanwhile,
     * which the next read must then return */
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 0) == 1) {
        CHECK_MSG(peko_next_event(node, 0, &ev) == PEKO_OK,
                  "event fd readable with no event pending");
        check_event(&ev);
        clear_event(&ev);
    }
}

/* ---- tests ----------------------------------------------------------------- */

/* peko_next_event waits about as long as asked, and writes nothing on timeout. */
static void test_next_event_timeout(void)
{
    peko_config cfg = loopback_config();
    peko_node *node = new_node(&cfg, 0, "n", ""); /* never joined: no events */
    peko_event ev;
    double t0, took;

    memset(&ev, POISON, sizeof ev);
    t0 = now_s();
    CHECK_STATUS(peko_next_event(node, 0, &ev), PEKO_ERR_TIMEOUT);
    CHECK_MSG(now_s() - t0 < 1.0, "timeout 0 took %.2f s", now_s() - t0);
    t0 = now_s();
    CHECK_STATUS(peko_next_event(node, 300, &ev), PEKO_ERR_TIMEOUT);
    took = now_s() - t0;
    CHECK_MSG(took >= 0.25 && took < 5.0, "timeout 300 ms took %.3f s", took);
    CHECK(is_poisoned(&ev, sizeof ev));
    CHECK(peko_last_error(NULL, 0) > 0);
    printf("    peko_next_event(300 ms) -> PEKO_ERR_TIMEOUT after %.3f s\n", took);
    peko_free(node);
}

/* Two members. alpha sees beta JOINED (with beta's name and data); beta calls
 * peko_update and alpha sees UPDATED with the new name (read through the event
 * fd); beta calls peko_leave and alpha sees LEFT, long before the failure
 * detector would have said FAILED; members_alive follows: 1, 2, 1. */
static void test_events_join_update_leave(void)
{
    peko_config cfg = loopback_config();
    uint16_t pa, pb;
    peko_node *a, *b;
    peko_node_info seed;
    peko_event ev;
    peko_stats_t st;
    double t0, deadline;
    int fd, got;

    /* a generous timeout: only a graceful leave can remove beta within it */
    cfg.timeout_ms = 10000;
    a = joined_node(&cfg, "alpha", "alpha-data", &pa);
    fd = peko_event_fd(a);
    CHECK(fd >= 0);
    CHECK(stats_of(a).members_alive == 1);

    b = new_node(&cfg, 0, "beta", "beta-data");
    seed = member("127.0.0.1", pa, NULL, NULL);
    CHECK_OK(peko_set(b, &seed));
    CHECK_OK(peko_join(b));
    pb = local_port(b);

    /* JOINED */
    t0 = now_s();
    deadline = t0 + CLUSTER_DEADLINE_S;
    for (got = 0; !got;) {
        CHECK_MSG(next_event_until(a, deadline, &ev), "alpha saw no JOINED for beta in %.0f s",
                  CLUSTER_DEADLINE_S);
        if (ev.member.port == pb) {
            CHECK_MSG(ev.kind == PEKO_EVENT_JOINED, "first event for beta is %s, not JOINED",
                      event_kind_name(ev.kind));
            CHECK(strcmp(ev.member.name, "beta") == 0);
            CHECK(strcmp(ev.member.private_data, "beta-data") == 0);
            got = 1;
        }
        clear_event(&ev);
    }
    printf("    JOINED after %.2f s\n", now_s() - t0);
    wait_members_alive(a, 2, "alpha");
    wait_members_alive(b, 2, "beta");
    /* beta joined through a connection; alpha's first packet is its first probe of beta, later
     * on a slow host (valgrind), where late timers stretch the probe interval */
    WAIT_UNTIL(stats_of(a).packets_sent > 0, "alpha sent no packet after beta joined");
    st = stats_of(a);
    CHECK(st.packets_sent > 0 && st.bytes_sent > 0);
    CHECK(st.packets_received > 0 && st.bytes_received > 0);
    CHECK(st.dropped_auth == 0);
    printf("    alpha: members_alive %lu, suspect %lu, sent %lu/%lu B, received %lu/%lu B, "
           "anti-entropy %lu, round %lu\n",
           (unsigned long)st.members_alive, (unsigned long)st.members_suspect,
           (unsigned long)st.packets_sent, (unsigned long)st.bytes_sent,
           (unsigned long)st.packets_received, (unsigned long)st.bytes_received,
           (unsigned long)st.anti_entropy_exchanges, (unsigned long)st.round);
    drain_events(a, fd);

    /* UPDATED, through the event fd */
    CHECK_OK(peko_update(b, "beta-renamed", "beta-data-2"));
    t0 = now_s();
    deadline = t0 + CLUSTER_DEADLINE_S;
    for (got = 0; !got;) {
        CHECK_MSG(poll_event_until(a, fd, deadline, &ev),
                  "alpha saw no UPDATED for beta in %.0f s", CLUSTER_DEADLINE_S);
        if (ev.member.port == pb) {
            CHECK_MSG(ev.kind == PEKO_EVENT_UPDATED, "%s for beta while waiting for UPDATED",
                      event_kind_name(ev.kind));
            if (strcmp(ev.member.name, "beta-renamed") == 0) {
                CHECK(strcmp(ev.member.private_data, "beta-data-2") == 0);
                got = 1;
            }
        }
        clear_event(&ev);
    }
    printf("    UPDATED after %.2f s\n", now_s() - t0);
    {
        char name[64], data[64];
        int found;
        list_lookup(a, pb, &found, name, sizeof name, data, sizeof data);
        CHECK(found);
        CHECK_MSG(strcmp(name, "beta-renamed") == 0 && strcmp(data, "beta-data-2") == 0,
                  "alpha lists beta as (\"%s\", \"%s\") after UPDATED", name, data);
    }
    drain_events(a, fd);

    /* LEFT */
    t0 = now_s();
    CHECK_OK(peko_leave(b, 2000));
    printf("    peko_leave returned after %.3f s\n", now_s() - t0);
    CHECK_OK(peko_leave(b, 2000)); /* a second leave does nothing */
    CHECK_STATUS(peko_update(b, "too-late", NULL), PEKO_ERR_STATE);
    deadline = t0 + CLUSTER_DEADLINE_S;
    for (got = 0; !got;) {
        CHECK_MSG(poll_event_until(a, fd, deadline, &ev),
                  "alpha saw no LEFT for beta in %.0f s", CLUSTER_DEADLINE_S);
        if (ev.member.port == pb && ev.kind != PEKO_EVENT_UPDATED) {
            CHECK_MSG(ev.kind == PEKO_EVENT_LEFT, "%s for beta after peko_leave, expected LEFT",
                      event_kind_name(ev.kind));
            CHECK_MSG(strcmp(ev.member.name, "") == 0, "LEFT event name \"%s\"",
                      ev.member.name);
            got = 1;
        }
        clear_event(&ev);
    }
    printf("    LEFT after %.2f s\n", now_s() - t0);
    wait_members_alive(a, 1, "alpha");
    {
        size_t count;
        CHECK(!has_member(a, pb, &count));
        CHECK(count == 1);
    }
    drain_events(a, fd);

    peko_free(b);
    peko_free(a);
}

/* A member given by peko_set that never answers ends with FAILED (not LEFT). */
static void test_event_failed_for_silent_peer(void)
{
    peko_config cfg = loopback_config(); /* timeout_ms 2000 */
    uint16_t pa, silent;
    /* A member that never speaks: a UDP port held by a socket that reads and
     * answers nothing (held, so no other process can start answering there). */
    int sock = bound_loopback_socket(SOCK_DGRAM, &silent);
    peko_node *a;
    peko_node_info peer;
    peko_event ev;
    double t0, deadline;
    int got;

    a = joined_node(&cfg, "alpha", "", &pa);
    peer = member("127.0.0.1", silent, "ghost", NULL);
    CHECK_OK(peko_set(a, &peer));
    t0 = now_s();
    deadline = t0 + CLUSTER_DEADLINE_S;
    for (got = 0; !got;) {
        CHECK_MSG(next_event_until(a, deadline, &ev),
                  "no FAILED for the silent peer in %.0f s", CLUSTER_DEADLINE_S);
        if (ev.member.port == silent) {
            CHECK_MSG(ev.kind == PEKO_EVENT_FAILED || ev.kind == PEKO_EVENT_JOINED,
                      "%s for a peer that never answered", event_kind_name(ev.kind));
            got = ev.kind == PEKO_EVENT_FAILED;
        }
        clear_event(&ev);
    }
    printf("    FAILED after %.2f s (timeout_ms %u)\n", now_s() - t0, (unsigned)cfg.timeout_ms);
    wait_members_alive(a, 1, "alpha");
    peko_free(a);
    close(sock);
}

/* ---- peko_free wakes a waiting peko_next_event ------------------------------ */

struct waiter {
    peko_node *node;
    int tid;                  /* set before the call */
    int returned;             /* set after it */
    peko_status status;
    char msg[256];
};

static void *wait_for_event(void *arg)
{
    struct waiter *w = arg;
    peko_event ev;
    peko_status st;
    __atomic_store_n(&w->tid, (int)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    /* an hour: only peko_free can end this wait within the test */
    st = peko_next_event(w->node, 3600u * 1000u, &ev);
    if (st == PEKO_OK)
        peko_event_clear(&ev);
    w->status = st;
    peko_last_error(w->msg, sizeof w->msg);
    __atomic_store_n(&w->returned, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* The state letter of one of our threads in /proc ('S' while it sleeps), or 0. */
static char thread_state(int tid)
{
    char path[64], buf[512];
    const char *p;
    size_t n;
    FILE *f;
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' ? p[2] : 0;
}

/* A thread blocked in peko_next_event (here for up to an hour) when another
 * frees the handle returns PEKO_ERR_STATE at once; peko_free does not release
 * the handle under it. The waiter is known to be inside the call once it
 * sleeps: it does nothing else after saying its thread id. */
static void test_free_wakes_event_waiter(void)
{
    peko_config cfg = loopback_config();
    uint16_t port;
    peko_node *node = joined_node(&cfg, "waited-on", "", &port);
    struct waiter w;
    pthread_t th;
    double t0;

    memset(&w, 0, sizeof w);
    w.node = node;
    CHECK(pthread_create(&th, NULL, wait_for_event, &w) == 0);
    WAIT_UNTIL(__atomic_load_n(&w.tid, __ATOMIC_SEQ_CST) != 0, "the waiter did not start");
    WAIT_UNTIL(thread_state(w.tid) == 'S', "the waiter never blocked (state %c)",
               thread_state(w.tid));
    t0 = now_s();
    peko_free(node);
    WAIT_UNTIL(__atomic_load_n(&w.returned, __ATOMIC_SEQ_CST),
               "peko_next_event still waiting %.0f s after peko_free", CLUSTER_DEADLINE_S);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_MSG(w.status == PEKO_ERR_STATE, "the waiter got %u (%s): %s", (unsigned)w.status,
              peko_status_str(w.status), w.msg);
    CHECK_MSG(strstr(w.msg, "peko_free") != NULL, "message: %s", w.msg);
    printf("    waiter woken with PEKO_ERR_STATE (\"%s\") %.3f s after peko_free began\n",
           w.msg, now_s() - t0);
}

static const struct test_case cases[] = {
    TEST_CASE(test_next_event_timeout),
    TEST_CASE(test_free_wakes_event_waiter),
    TEST_CASE(test_events_join_update_leave),
    TEST_CASE(test_event_failed_for_silent_peer),
};

const struct test_suite events_suite = TEST_SUITE("events", cases);
