/*
 * fork(): a child process inherits a copy of a joined handle, but none of the
 * library's threads. Every call on the inherited handle must say so
 * (PEKO_ERR_STATE, with "fork" in the message) instead of returning OK while
 * nothing runs; peko_free in the child must return without touching the
 * parent's sockets or threads; a member started in the child is refused at
 * peko_join (the library's runtime stayed in the parent) instead of hanging.
 * The parent's member keeps working throughout.
 */
#include "harness.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Bits of the child's exit status: which expectation failed. */
enum {
    CHILD_GET = 1,
    CHILD_PUBLISH = 2,
    CHILD_STOP = 4,
    CHILD_MESSAGE = 8,
    CHILD_NEW_JOIN = 16,
};

static int child_checks(peko_node *inherited)
{
    peko_node_info *nodes = NULL;
    size_t count = 0;
    char msg[512];
    int failed = 0;
    peko_config cfg = loopback_config();
    peko_node *fresh = NULL;
    peko_node_info me = member("127.0.0.1", 0, "child", "");

    peko_status st = peko_get(inherited, &nodes, &count);
    if (st != PEKO_ERR_STATE) {
        fprintf(stderr, "    child: peko_get returned %u\n", (unsigned)st);
        failed |= CHILD_GET;
    }
    peko_last_error(msg, sizeof msg);
    if (strstr(msg, "fork") == NULL) {
        fprintf(stderr, "    child: message \"%s\"\n", msg);
        failed |= CHILD_MESSAGE;
    }
    if (peko_publish(inherited, (const uint8_t *)"x", 1) != PEKO_ERR_STATE)
        failed |= CHILD_PUBLISH;
    if (peko_stop(inherited) != PEKO_ERR_STATE)
        failed |= CHILD_STOP;
    if (peko_new(&cfg, &me, &fresh) != PEKO_OK || peko_join(fresh) != PEKO_ERR_STATE)
        failed |= CHILD_NEW_JOIN;
    peko_free(fresh);
    peko_free(inherited); /* must return */
    return failed;
}

static void test_fork_child_gets_state_errors(void)
{
    peko_config cfg = loopback_config();
    uint16_t pa, pb;
    peko_node *a = joined_node(&cfg, "parent-a", "", &pa);
    peko_node *b = joined_node(&cfg, "parent-b", "", &pb);
    peko_node_info seed = member("127.0.0.1", pa, NULL, NULL);
    double deadline;
    int status = 0;
    pid_t child, done = 0;

    CHECK_OK(peko_set(b, &seed));
    wait_members_alive(a, 2, "a before fork");

    child = fork();
    CHECK_MSG(child >= 0, "fork: %s", strerror(errno));
    if (child == 0) {
        char code[32];
        alarm(30); /* a hang in the child ends it with SIGALRM */
        /* Then exec, as a real fork child would: the copy of the parent's state
         * (other threads' memory among it) goes with the old image, and the
         * checks' result is the new program's exit status. */
        snprintf(code, sizeof code, "exit %d", child_checks(a));
        execl("/bin/sh", "sh", "-c", code, (char *)NULL);
        _exit(127);
    }

    deadline = now_s() + 60.0;
    while ((done = waitpid(child, &status, WNOHANG)) == 0) {
        if (now_s() > deadline) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            harness_fail(__FILE__, __LINE__, "the fork child did not finish in 60 s");
        }
        sleep_ms(20);
    }
    CHECK(done == child);
    CHECK_MSG(!WIFSIGNALED(status), "the fork child died of signal %d (SIGALRM = hung)",
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the fork child's checks failed: bits %d (1 get, 2 publish, 4 stop, 8 message, "
              "16 a new member's join)",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    /* The parent's members are untouched: still two, and a publish spreads. */
    CHECK_OK(peko_publish(a, (const uint8_t *)"after", 5));
    wait_metadata(b, "after", 5, "b after the fork");
    wait_members_alive(a, 2, "a after the fork");
    peko_free(b);
    peko_free(a);
}

static const struct test_case cases[] = {
    TEST_CASE(test_fork_child_gets_state_errors),
};

const struct test_suite fork_suite = TEST_SUITE("fork", cases);
