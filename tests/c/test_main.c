/*
 * C tests for the pekonode C ABI, built into one binary (build/tests/test_api)
 * by `make c-test` with -fsanitize=address,undefined. Every test runs in its
 * own child process (see harness.h); only 127.0.0.1 is used.
 *
 * One file per topic, each defining a suite; this list is the running order.
 * `test_api NAME...` runs the named tests and suites only.
 */
#include "harness.h"

extern const struct test_suite status_suite;    /* test_status.c */
extern const struct test_suite args_suite;      /* test_args.c */
extern const struct test_suite metadata_suite;  /* test_metadata.c */
extern const struct test_suite lifecycle_suite; /* test_lifecycle.c */
extern const struct test_suite threads_suite;   /* test_threads.c */
extern const struct test_suite cluster_suite;   /* test_cluster.c */
extern const struct test_suite events_suite;    /* test_events.c */
extern const struct test_suite log_suite;       /* test_log.c */
extern const struct test_suite counters_suite;  /* test_counters.c */
extern const struct test_suite fork_suite;      /* test_fork.c */
extern const struct test_suite keys_suite;      /* test_keys.c */
extern const struct test_suite compat_suite;    /* test_compat.c */

int main(int argc, char **argv)
{
    static const struct test_suite *const suites[] = {
        &status_suite,    &args_suite,    &metadata_suite, &lifecycle_suite,
        &threads_suite,   &cluster_suite, &events_suite,   &log_suite,
        &counters_suite,  &fork_suite,    &keys_suite,     &compat_suite,
    };
    return harness_main(suites, sizeof suites / sizeof suites[0], argc, argv);
}
