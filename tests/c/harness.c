/*
 * The runner, failure reports and clock of the C tests (see harness.h).
 */
#include "harness.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- failure reports ------------------------------------------------------ */

HARNESS_NORETURN static void harness_die(void)
{
    fflush(NULL);
    _exit(1);
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    harness_die();
}

void harness_fail_status(const char *file, int line, const char *expr, peko_status got,
                         peko_status want)
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

/* ---- time ----------------------------------------------------------------- */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- runner ----------------------------------------------------------------- */

/* A test runs when no names were given, or when its own name or its suite's
 * name was. */
static int harness_selected(const struct test_suite *suite, const struct test_case *tc,
                            int argc, char **argv)
{
    int i;
    if (argc <= 1)
        return 1;
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], tc->name) == 0 || strcmp(argv[i], suite->name) == 0)
            return 1;
    return 0;
}

static int harness_known(const struct test_suite *const *suites, size_t nsuites,
                         const char *name)
{
    size_t i, j;
    for (i = 0; i < nsuites; i++) {
        if (strcmp(name, suites[i]->name) == 0)
            return 1;
        for (j = 0; j < suites[i]->count; j++)
            if (strcmp(name, suites[i]->cases[j].name) == 0)
                return 1;
    }
    return 0;
}

static void harness_list(const struct test_suite *const *suites, size_t nsuites)
{
    size_t i, j;
    for (i = 0; i < nsuites; i++) {
        fprintf(stderr, "  %s:\n", suites[i]->name);
        for (j = 0; j < suites[i]->count; j++)
            fprintf(stderr, "    %s\n", suites[i]->cases[j].name);
    }
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
        printf("%-40s FAIL (exit status %d; a sanitizer report above?)\n", tc->name,
               WEXITSTATUS(wstatus));
    return 0;
}

int harness_main(const struct test_suite *const *suites, size_t nsuites, int argc,
                 char **argv)
{
    size_t i, j;
    int passed = 0, failed = 0;
    const char *nofork_env = getenv("PEKO_TEST_NOFORK");
    int nofork = nofork_env != NULL && nofork_env[0] != '\0' &&
                 strcmp(nofork_env, "0") != 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A peer vanishing mid-send must not kill the test process. */
    signal(SIGPIPE, SIG_IGN);

    for (i = 1; i < (size_t)argc; i++) {
        if (!harness_known(suites, nsuites, argv[i])) {
            fprintf(stderr, "unknown test '%s'; suites and their tests are:\n", argv[i]);
            harness_list(suites, nsuites);
            return 2;
        }
    }

    for (i = 0; i < nsuites; i++) {
        for (j = 0; j < suites[i]->count; j++) {
            const struct test_case *tc = &suites[i]->cases[j];
            if (!harness_selected(suites[i], tc, argc, argv))
                continue;
            if (harness_run_one(tc, nofork))
                passed++;
            else
                failed++;
        }
    }
    printf("C tests: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
