/*
 * A tiny test harness for the pekonode C tests; no external framework.
 *
 * Each test is a plain function; each test file groups the tests of one topic
 * in a suite (TEST_SUITE), and test_main.c lists the suites.  The runner forks
 * one child per test, so a crash, a sanitizer report, a leak or a hang
 * (per-test alarm) fails that test alone and the rest still run.  A failed
 * CHECK prints where and why, then ends the child at once: it may be called
 * from any thread of the test.
 *
 * Usage: test_api [NAME...]   run only the named tests and suites
 *        PEKO_TEST_NOFORK=1   run tests in-process (for a debugger)
 *
 * Every test file includes this header first: it asks for POSIX before any
 * system header is read.
 */
#ifndef PEKO_TEST_HARNESS_H
#define PEKO_TEST_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pekonode.h"

/* ---- tests and suites (harness.c) ------------------------------------- */

/* Generous: a test that polls a cluster allows CLUSTER_DEADLINE_S per wait. */
#define TEST_TIMEOUT_S 90

typedef void (*test_fn)(void);

struct test_case {
    const char *name;
    test_fn fn;
};

#define TEST_CASE(fn) { #fn, fn }

/* The tests of one topic; `name` selects all of them on the command line. */
struct test_suite {
    const char *name;
    const struct test_case *cases;
    size_t count;
};

#define TEST_SUITE(name, cases) { name, cases, sizeof cases / sizeof cases[0] }

int harness_main(const struct test_suite *const *suites, size_t nsuites, int argc,
                 char **argv);

/* ---- checks (harness.c) ------------------------------------------------- */

#if defined(__GNUC__)
#define HARNESS_NORETURN __attribute__((noreturn))
#define HARNESS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define HARNESS_NORETURN
#define HARNESS_PRINTF(f, a)
#endif

HARNESS_NORETURN HARNESS_PRINTF(3, 4) void harness_fail(const char *file, int line,
                                                        const char *fmt, ...);
HARNESS_NORETURN void harness_fail_status(const char *file, int line, const char *expr,
                                          peko_status got, peko_status want);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            harness_fail(__FILE__, __LINE__, "CHECK failed: %s", #cond);     \
    } while (0)

#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        if (!(cond))                                                         \
            harness_fail(__FILE__, __LINE__, __VA_ARGS__);                   \
    } while (0)

/* Evaluate a pekonode call and require a given status. */
#define CHECK_STATUS(expr, want)                                             \
    do {                                                                     \
        peko_status got_ = (expr);                                           \
        if (got_ != (peko_status)(want))                                     \
            harness_fail_status(__FILE__, __LINE__, #expr, got_,             \
                                (peko_status)(want));                        \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, PEKO_OK)

/* ---- time and polling (harness.c) --------------------------------------- */

double now_s(void);
void sleep_ms(long ms);

/* How long a test waits for a condition before failing: generous, so the
 * tests pass on a loaded two-core machine. */
#define CLUSTER_DEADLINE_S 20.0
/* How often a poll looks again. */
#define POLL_INTERVAL_MS 20

/* Polls `cond` until it holds; once CLUSTER_DEADLINE_S has passed, fails with
 * the printf-style message. A test waits for something that proves a thing
 * happened (or had every chance to), never for a fixed time. */
#define WAIT_UNTIL(cond, ...)                                                \
    do {                                                                     \
        double wait_deadline_ = now_s() + CLUSTER_DEADLINE_S;                \
        while (!(cond)) {                                                    \
            CHECK_MSG(now_s() < wait_deadline_, __VA_ARGS__);                \
            sleep_ms(POLL_INTERVAL_MS);                                      \
        }                                                                    \
    } while (0)

/* ---- members on loopback (fixtures.c) ----------------------------------- */

/* Defaults, bound to loopback only, with a fast cycle (100 ms) so tests
 * finish soon; timeout_ms 2000. */
peko_config loopback_config(void);

peko_node_info member(const char *addr, uint16_t port, const char *name,
                      const char *data);

/* peko_new for 127.0.0.1:port; fails the test if that fails. */
peko_node *new_node(const peko_config *cfg, uint16_t port, const char *name,
                    const char *data);

uint16_t local_port(peko_node *node);

/* A joined node on an OS-chosen loopback port. */
peko_node *joined_node(const peko_config *cfg, const char *name, const char *data,
                       uint16_t *port_out);

/* Looks `port` up in the node's member list. Returns the list size and, when
 * found, copies name/private_data (truncated) into the given buffers (either
 * may be NULL). */
size_t list_lookup(peko_node *node, uint16_t port, int *found, char *name,
                   size_t name_cap, char *data, size_t data_cap);

int has_member(peko_node *node, uint16_t port, size_t *count);

/* Reads the cluster metadata into buf (cap bytes); returns its length. */
size_t read_metadata(peko_node *node, uint8_t *buf, size_t cap);

/* Waits until the node's metadata is exactly data[0..len) (len at most 64). */
void wait_metadata(peko_node *node, const void *data, size_t len, const char *who);

/* ---- counters (fixtures.c) ---------------------------------------------- */

/* A byte pattern no library output would leave behind: an output argument that
 * must stay untouched is filled with it first. */
#define POISON 0xA5

int is_poisoned(const void *p, size_t n);

/* peko_stats, required to succeed and to write the whole struct. */
peko_stats_t stats_of(peko_node *node);

/* Waits until the node's members_alive is `want`. */
void wait_members_alive(peko_node *node, uint64_t want, const char *who);

/* Waits until the node has run `rounds` more gossip rounds than when called:
 * proof that its timers, and whatever each round does, have run that often. */
void wait_rounds(peko_node *node, uint64_t rounds, const char *who);

/* A socket of `type` (SOCK_DGRAM or SOCK_STREAM) bound to a free loopback port
 * and never read or listened on: the port is held, so nothing else answers
 * there. Returns the descriptor; the port goes to *port. (fixtures.c) */
int bound_loopback_socket(int type, uint16_t *port);

#endif /* PEKO_TEST_HARNESS_H */
