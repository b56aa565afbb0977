/*
 * A tiny test harness for the pekonode C tests; no external framework.
 *
 * Each test is a plain function.  The runner forks one child per test, so a
 * crash, a sanitizer report, a leak or a hang (per-test alarm) fails that test
 * alone and the rest still run.  A failed CHECK prints where and why, then
 * ends the child at once: it may be called from any thread of the test.
 *
 * Usage: test_api [NAME...]   run only the named tests
 *        PEKO_TEST_NOFORK=1   run tests in-process (for a debugger)
 */
#ifndef PEKO_TEST_HARNESS_H
#define PEKO_TEST_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pekonode.h"

/* Generous: a test that polls a cluster allows 20 s for it. */
#define TEST_TIMEOUT_S 90

typedef void (*test_fn)(void);

struct test_case {
    const char *name;
    test_fn fn;
};

#define TEST_CASE(fn) { #fn, fn }

static void harness_die(void)
{
    fflush(NULL);
    _exit(1);
}

static void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    harness_die();
}

static void harness_fail_status(const char *file, int line, const char *expr,
                                peko_status got, peko_status want)
{
    char msg[512];
    msg[0] = '\0';
    peko_last_error(msg, sizeof msg);
    harness_fail(file, line,
                 "%s\n      returned %u (%s), expected %u (%s)"
                 "\n      peko_last_error: \"%s\"",
                 expr, (unsigned)got, peko_status_str(got), (unsigned)want,
                 peko_status_str(want), msg);
}

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

/* ---- time ------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- runner ------------------------------------------------------------ */

static int harness_selected(const char *name, int argc, char **argv)
{
    int i;
    if (argc <= 1)
        return 1;
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

/* Runs one test; returns 1 if it passed. */
static int harness_run_one(const struct test_case *tc, int nofork)
{
    pid_t pid;
    int wstatus;
    double t0 = now_s();

    printf("--- %s\n", tc->name);
    fflush(NULL);

    if (nofork) {
        tc->fn();
        printf("%-40s PASS (%.2fs)\n", tc->name, now_s() - t0);
        return 1;
    }

    pid = fork();
    if (pid < 0) {
        perror("fork");
        printf("%-40s FAIL (could not fork)\n", tc->name);
        return 0;
    }
    if (pid == 0) {
        alarm(TEST_TIMEOUT_S);
        tc->fn();
        fflush(NULL);
        exit(0); /* exit(), not _exit(): LeakSanitizer runs at exit */
    }

    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            perror("waitpid");
            printf("%-40s FAIL (waitpid)\n", tc->name);
            return 0;
        }
    }
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        printf("%-40s PASS (%.2fs)\n", tc->name, now_s() - t0);
        return 1;
    }
    if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGALRM)
        printf("%-40s FAIL (timed out after %d s)\n", tc->name, TEST_TIMEOUT_S);
    else if (WIFSIGNALED(wstatus))
        printf("%-40s FAIL (killed by signal %d)\n", tc->name, WTERMSIG(wstatus));
    else if (WEXITSTATUS(wstatus) == 1)
        printf("%-40s FAIL\n", tc->name);
    else
        printf("%-40s FAIL (exit status %d; a sanitizer report above?)\n",
               tc->name, WEXITSTATUS(wstatus));
    return 0;
}

static int harness_main(const struct test_case *tests, size_t ntests,
                        int argc, char **argv)
{
    size_t i;
    int passed = 0, failed = 0;
    const char *nofork_env = getenv("PEKO_TEST_NOFORK");
    int nofork = nofork_env != NULL && nofork_env[0] != '\0' &&
                 strcmp(nofork_env, "0") != 0;

    /* A peer vanishing mid-send must not kill the test process. */
    signal(SIGPIPE, SIG_IGN);

    for (i = 1; i < (size_t)argc; i++) {
        size_t j;
        int known = 0;
        for (j = 0; j < ntests; j++)
            if (strcmp(argv[i], tests[j].name) == 0)
                known = 1;
        if (!known) {
            fprintf(stderr, "unknown test '%s'; tests are:\n", argv[i]);
            for (j = 0; j < ntests; j++)
                fprintf(stderr, "  %s\n", tests[j].name);
            return 2;
        }
    }

    for (i = 0; i < ntests; i++) {
        if (!harness_selected(tests[i].name, argc, argv))
            continue;
        if (harness_run_one(&tests[i], nofork))
            passed++;
        else
            failed++;
    }
    printf("C tests: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

#endif /* PEKO_TEST_HARNESS_H */
