/*
 * A program built against the first published header (tests/abi/pekonode_v1.h, a frozen copy
 * of include/pekonode.h as of commit ea65a4f) runs unchanged with today's library.
 *
 * It is what the ABI growth rule in pekonode.h promises: the structs keep their layout, the
 * library never reads or writes more of a caller's struct than that header declared, and new
 * things come as new functions. So this program:
 *   - uses every call of that header, on a three-member loopback cluster;
 *   - surrounds every struct the library writes (peko_config, peko_event, peko_stats_t, the
 *     uint16_t of peko_local_port, the read and last-error buffers) with canary bytes and
 *     checks them after each call: a library that wrote a larger struct is caught;
 *   - puts every struct the library reads (peko_config, peko_node_info) at the very end of a
 *     page followed by an inaccessible one: a library that read a larger struct crashes here.
 * make test-abi (mk/abi.mk) links it against the new shared library and the new static one.
 *
 * Only 127.0.0.1 is used, with OS-chosen ports; every wait polls with a generous deadline.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pekonode_v1.h"

#ifdef PEKO_COUNTER_ROUND
#error "compiled against today's header: build with -Itests/abi only, not -Iinclude"
#endif

#define DEADLINE_S 30.0
#define CANARY 0xA5
#define PAD 32

static const char *g_step = "start";

static void vfail(int with_last_error, const char *fmt, va_list ap)
{
    fprintf(stderr, "v1_header_compat: FAILED at \"%s\": ", g_step);
    vfprintf(stderr, fmt, ap);
    if (with_last_error) {
        char msg[256];
        msg[0] = '\0';
        peko_last_error(msg, sizeof msg);
        fprintf(stderr, " (peko_last_error: \"%s\")", msg);
    }
    fputc('\n', stderr);
    exit(1);
}

/* A failed check after a call: with this thread's last library message. */
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(1, fmt, ap);
    va_end(ap);
}

/* A broken canary: the library's messages have nothing to say about it. */
static void fail_canary(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(0, fmt, ap);
    va_end(ap);
}

/* A read past a struct placed against a guard page ends here (or any other crash does). */
static void on_fault(int sig)
{
    static const char head[] = "v1_header_compat: FAILED at \"";
    static const char tail[] = "\": SIGSEGV/SIGBUS: most likely the library read or wrote past "
                               "a v1 struct placed against an inaccessible page, i.e. more than "
                               "the v1 header declares\n";
    ssize_t r;
    (void)sig;
    r = write(2, head, sizeof head - 1);
    r = write(2, g_step, strlen(g_step));
    r = write(2, tail, sizeof tail - 1);
    (void)r;
    _exit(1);
}

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond))                                                                  \
            fail("%s:%d: %s", __FILE__, __LINE__, #cond);                             \
    } while (0)

#define CHECK_STATUS(expr, want)                                                      \
    do {                                                                              \
        peko_status got_ = (expr);                                                    \
        if (got_ != (peko_status)(want))                                              \
            fail("%s:%d: %s returned %u (%s), expected %u", __FILE__, __LINE__, #expr, \
                 (unsigned)got_, peko_status_str(got_), (unsigned)(want));            \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, PEKO_OK)

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

/* ---- canaries: what the library writes ------------------------------------------------ */

/* A value of type T with PAD canary bytes on each side. */
#define GUARDED(T)                                                                    \
    struct {                                                                          \
        unsigned char before[PAD];                                                    \
        T v;                                                                          \
        unsigned char after[PAD];                                                     \
    }

/* A char buffer of N bytes with PAD canary bytes on each side. */
#define GUARDED_CHARS(N)                                                              \
    struct {                                                                          \
        unsigned char before[PAD];                                                    \
        char v[N];                                                                    \
        unsigned char after[PAD];                                                     \
    }

#define ARM(g) memset(&(g), CANARY, sizeof(g))
#define CHECK_CANARIES(g, what) check_canaries((g).before, (g).after, what)

static void check_pad(const unsigned char *p, const char *side, const char *what)
{
    size_t i;
    for (i = 0; i < PAD; i++)
        if (p[i] != CANARY)
            fail_canary("the library wrote 0x%02x into canary byte %u %s the %s it was given: "
                        "it wrote more than the v1 header declares",
                        p[i], (unsigned)i, side, what);
}

static void check_canaries(const unsigned char *before, const unsigned char *after,
                           const char *what)
{
    check_pad(before, "before", what);
    check_pad(after, "after", what);
}

/* ---- guard pages: what the library reads ---------------------------------------------- */

/* Two pages, the second inaccessible; `at_page_end` gives room for `size` bytes ending exactly
 * where the inaccessible page starts, so reading one byte beyond faults. */
struct arena {
    unsigned char *page;
    size_t page_size;
};

static void arena_init(struct arena *a)
{
    long ps = sysconf(_SC_PAGESIZE);
    void *p;
    CHECK(ps > 0);
    a->page_size = (size_t)ps;
    p = mmap(NULL, 2 * a->page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    a->page = (unsigned char *)p;
    CHECK(mprotect(a->page + a->page_size, a->page_size, PROT_NONE) == 0);
}

static void *at_page_end(struct arena *a, size_t size)
{
    /* sizeof a struct is a multiple of its alignment, and the page is aligned: so is this. */
    return a->page + a->page_size - size;
}

static void arena_free(struct arena *a)
{
    munmap(a->page, 2 * a->page_size);
}

static struct arena g_config_arena, g_info_arena;

/* A peko_node_info the library must read without going past its end. */
static const peko_node_info *edge_info(const char *addr, uint16_t port, const char *name,
                                       const char *data)
{
    peko_node_info *p = (peko_node_info *)at_page_end(&g_info_arena, sizeof *p);
    p->addr = addr;
    p->port = port;
    p->name = name;
    p->private_data = data;
    return p;
}

/* ---- the host logger -------------------------------------------------------------------- */

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long g_log_lines; /* under g_log_mu */

static void count_line(void *userdata, uint32_t level, const char *line)
{
    CHECK(userdata == &g_log_lines);
    CHECK(level == PEKO_LOG_ERROR || level == PEKO_LOG_INFO);
    CHECK(line != NULL);
    pthread_mutex_lock(&g_log_mu);
    g_log_lines++;
    pthread_mutex_unlock(&g_log_mu);
}

/* ---- helpers over the v1 calls ---------------------------------------------------------- */

static uint16_t local_port(peko_node *node)
{
    GUARDED(uint16_t) port;
    ARM(port);
    CHECK_OK(peko_local_port(node, &port.v));
    CHECK_CANARIES(port, "uint16_t of peko_local_port");
    return port.v;
}

/* Whether `node` lists exactly `count` members, one of them `port` with `name` when given. */
static int lists(peko_node *node, size_t count, uint16_t port, const char *name)
{
    peko_node_info *list = NULL;
    size_t n = 0, i;
    int found = port == 0;
    CHECK_OK(peko_get(node, &list, &n));
    CHECK(n >= 1 && list != NULL);
    for (i = 0; i < n; i++) {
        CHECK(list[i].addr != NULL && list[i].name != NULL && list[i].private_data != NULL);
        if (list[i].port == port && strcmp(list[i].addr, "127.0.0.1") == 0 &&
            (name == NULL || strcmp(list[i].name, name) == 0))
            found = 1;
    }
    peko_nodes_free(list, n);
    return n == count && found;
}

static void wait_lists(peko_node *node, size_t count, uint16_t port, const char *name)
{
    double deadline = now_s() + DEADLINE_S;
    while (!lists(node, count, port, name)) {
        if (now_s() > deadline)
            fail("no list of %u members with port %u within %.0f s", (unsigned)count,
                 (unsigned)port, DEADLINE_S);
        sleep_ms(20);
    }
}

/* Reads the metadata with the two-call pattern into a canary-guarded buffer. */
static size_t read_metadata(peko_node *node, char *out, size_t cap)
{
    GUARDED(size_t) len;
    GUARDED_CHARS(64) buf;
    peko_status st;
    ARM(len);
    st = peko_read(node, NULL, 0, &len.v);
    CHECK_CANARIES(len, "length of peko_read");
    if (st == PEKO_OK) {
        CHECK(len.v == 0);
        return 0;
    }
    CHECK_STATUS(st, PEKO_ERR_BUFFER_TOO_SMALL);
    CHECK(len.v > 0 && len.v <= sizeof buf.v && len.v < cap);
    ARM(buf);
    ARM(len);
    /* exactly the length asked for: the library must not write one byte more */
    CHECK_OK(peko_read(node, (uint8_t *)buf.v, sizeof buf.v, &len.v));
    CHECK(len.v > 0 && len.v <= sizeof buf.v);
    {
        size_t i;
        for (i = len.v; i < sizeof buf.v; i++)
            CHECK((unsigned char)buf.v[i] == CANARY);
    }
    CHECK_CANARIES(buf, "buffer of peko_read");
    CHECK_CANARIES(len, "length of peko_read");
    memcpy(out, buf.v, len.v);
    out[len.v] = '\0';
    return len.v;
}

static void wait_metadata(peko_node *node, const char *want)
{
    char got[128];
    double deadline = now_s() + DEADLINE_S;
    for (;;) {
        size_t n = read_metadata(node, got, sizeof got);
        if (n == strlen(want) && memcmp(got, want, n) == 0)
            return;
        if (now_s() > deadline)
            fail("metadata \"%s\" did not arrive within %.0f s", want, DEADLINE_S);
        sleep_ms(20);
    }
}

/* Waits on the event descriptor, then reads events (canary-guarded) until one of `kind` about
 * `port` comes. */
static void wait_event(peko_node *node, int fd, uint32_t kind, uint16_t port)
{
    double deadline = now_s() + DEADLINE_S;
    for (;;) {
        struct pollfd p;
        GUARDED(peko_event) ev;
        peko_status st;
        int match;
        if (now_s() > deadline)
            fail("no event %u for port %u within %.0f s", (unsigned)kind, (unsigned)port,
                 DEADLINE_S);
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 100) <= 0)
            continue;
        ARM(ev);
        st = peko_next_event(node, 0, &ev.v);
        CHECK_CANARIES(ev, "peko_event");
        if (st == PEKO_ERR_TIMEOUT)
            continue; /* another reader cannot exist here, but a wake-up may be stale */
        CHECK_OK(st);
        CHECK(ev.v.kind >= PEKO_EVENT_JOINED && ev.v.kind <= PEKO_EVENT_METADATA);
        CHECK(ev.v.member.addr != NULL && ev.v.member.name != NULL &&
              ev.v.member.private_data != NULL);
        match = ev.v.kind == kind && ev.v.member.port == port &&
                strcmp(ev.v.member.addr, "127.0.0.1") == 0;
        peko_event_clear(&ev.v);
        CHECK(ev.v.member.addr == NULL && ev.v.member.name == NULL &&
              ev.v.member.private_data == NULL);
        CHECK_CANARIES(ev, "peko_event (clear)");
        peko_event_clear(&ev.v); /* a second clear does nothing */
        if (match)
            return;
    }
}

static peko_stats_t stats_of(peko_node *node)
{
    GUARDED(peko_stats_t) s;
    ARM(s);
    CHECK_OK(peko_stats(node, &s.v));
    CHECK_CANARIES(s, "peko_stats_t");
    return s.v;
}

static peko_node *new_member(const char *name, const char *data)
{
    GUARDED(peko_config) def;
    peko_config *cfg = (peko_config *)at_page_end(&g_config_arena, sizeof *cfg);
    peko_node *node = NULL;

    ARM(def);
    peko_config_default(&def.v);
    CHECK_CANARIES(def, "peko_config of peko_config_default");
    CHECK(def.v.amount == 3 && def.v.cycle_ms == 500 && def.v.buffer == 256 &&
          def.v.size == 16384 &&
          /* 5000 in the first library; 0 (= 5000 ms, or 10 cycles when longer) since the
           * rule was made one for every binding: the same timeout at this cycle. */
          (def.v.timeout_ms == 5000 || def.v.timeout_ms == 0) && def.v.secret_key == NULL &&
          def.v.protocol == PEKO_PROTOCOL_UDP && def.v.listen_addr == NULL && !def.v.is_print);
    *cfg = def.v;
    cfg->cycle_ms = 100;
    cfg->timeout_ms = 2000;
    cfg->listen_addr = "127.0.0.1";
    cfg->secret_key = "v1 header compat";
    CHECK_OK(peko_new(cfg, edge_info("127.0.0.1", 0, name, data), &node));
    CHECK(node != NULL);
    return node;
}

/* ---- the run ---------------------------------------------------------------------------- */

int main(void)
{
    peko_node *a, *b, *c;
    uint16_t pa, pb, pc;
    int fd;
    double t0 = now_s();

    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fault;
        sigemptyset(&sa.sa_mask);
        CHECK(sigaction(SIGSEGV, &sa, NULL) == 0 && sigaction(SIGBUS, &sa, NULL) == 0);
    }
    arena_init(&g_config_arena);
    arena_init(&g_info_arena);

    g_step = "version, status strings, logger";
    CHECK(peko_version() != NULL && peko_version()[0] != '\0');
    CHECK(strcmp(peko_status_str(PEKO_OK), "ok") == 0);
    CHECK(strcmp(peko_status_str(PEKO_ERR_TIMEOUT), "timed out") == 0);
    CHECK_STATUS(peko_set_log(count_line, &g_log_lines, 2), PEKO_ERR_INVALID_ARG);
    CHECK_OK(peko_set_log(count_line, &g_log_lines, PEKO_LOG_INFO));

    g_step = "new";
    a = new_member("alpha", "role=a");
    b = new_member("beta", "role=b");
    c = new_member("gamma", "role=c");
    CHECK(local_port(a) == 0); /* port 0: chosen at join */

    g_step = "event fd";
    fd = peko_event_fd(a);
    CHECK(fd >= 0);

    g_step = "join and set";
    CHECK_OK(peko_join(a));
    pa = local_port(a);
    CHECK(pa != 0);
    CHECK_OK(peko_set(b, edge_info("127.0.0.1", pa, NULL, NULL)));
    CHECK_OK(peko_set(c, edge_info("127.0.0.1", pa, "", "")));
    CHECK_OK(peko_join(b));
    CHECK_OK(peko_join(c));
    pb = local_port(b);
    pc = local_port(c);
    CHECK(pb != 0 && pc != 0 && pb != pa && pc != pa && pb != pc);

    g_step = "get: the lists converge";
    wait_lists(a, 3, pb, "beta");
    wait_lists(a, 3, pc, "gamma");
    wait_lists(b, 3, pc, "gamma");
    wait_lists(c, 3, pb, "beta");
    wait_event(a, fd, PEKO_EVENT_JOINED, pb);

    g_step = "publish and read";
    CHECK_OK(peko_publish(b, (const uint8_t *)"v1 header compat", 16));
    wait_metadata(a, "v1 header compat");
    wait_metadata(c, "v1 header compat");
    wait_event(a, fd, PEKO_EVENT_METADATA, pb);

    g_step = "stats";
    {
        peko_stats_t s = stats_of(a);
        double deadline = now_s() + DEADLINE_S;
        while (s.members_alive != 3 || s.round == 0) {
            CHECK(now_s() < deadline);
            sleep_ms(20);
            s = stats_of(a);
        }
        CHECK(s.members_suspect == 0 && s.packets_sent > 0 && s.bytes_sent > 0 &&
              s.packets_received > 0 && s.bytes_received > 0 && s.anti_entropy_exchanges > 0);
    }

    g_step = "update";
    CHECK_OK(peko_update(c, "gamma-2", "role=c2"));
    wait_event(a, fd, PEKO_EVENT_UPDATED, pc);
    wait_lists(b, 3, pc, "gamma-2");

    g_step = "stop and start";
    CHECK_OK(peko_stop(c));
    wait_event(a, fd, PEKO_EVENT_FAILED, pc);
    wait_lists(a, 2, pb, NULL);
    CHECK_OK(peko_start(c));
    CHECK_OK(peko_start(c)); /* on a running member: nothing */
    wait_event(a, fd, PEKO_EVENT_JOINED, pc);
    wait_lists(a, 3, pc, "gamma-2");

    g_step = "leave";
    CHECK_OK(peko_leave(b, 5000));
    wait_event(a, fd, PEKO_EVENT_LEFT, pb);
    wait_lists(a, 2, pc, NULL);
    {
        /* a peko_next_event that waits and times out writes nothing at all */
        GUARDED(peko_event) ev;
        double deadline = now_s() + DEADLINE_S;
        size_t i;
        for (;;) {
            peko_status st;
            ARM(ev);
            st = peko_next_event(a, 50, &ev.v);
            if (st == PEKO_ERR_TIMEOUT)
                break;
            CHECK_OK(st); /* a late event: take it and wait again */
            peko_event_clear(&ev.v);
            CHECK(now_s() < deadline);
        }
        for (i = 0; i < sizeof ev; i++)
            CHECK(((const unsigned char *)&ev)[i] == CANARY);
    }

    g_step = "errors and last_error";
    CHECK_STATUS(peko_join(a), PEKO_ERR_STATE);
    {
        GUARDED_CHARS(8) small;
        GUARDED_CHARS(256) full;
        size_t n = peko_last_error(NULL, 0);
        CHECK(n > 0);
        ARM(small);
        CHECK(peko_last_error(small.v, sizeof small.v) == n);
        CHECK_CANARIES(small, "peko_last_error buffer");
        CHECK(small.v[sizeof small.v - 1] == '\0'); /* truncated, NUL-terminated */
        ARM(full);
        CHECK(peko_last_error(full.v, sizeof full.v) == n && n < sizeof full.v);
        CHECK_CANARIES(full, "peko_last_error buffer");
        CHECK(strlen(full.v) == n);
    }
    {
        GUARDED(peko_stats_t) s;
        peko_node *none = NULL;
        ARM(s);
        CHECK_STATUS(peko_stats(NULL, &s.v), PEKO_ERR_NULL_ARG);
        CHECK_STATUS(peko_stats(a, NULL), PEKO_ERR_NULL_ARG);
        CHECK_STATUS(peko_new(NULL, edge_info("127.0.0.1", 0, NULL, NULL), &none),
                     PEKO_ERR_NULL_ARG);
        CHECK(none == NULL);
        CHECK_STATUS(peko_new(at_page_end(&g_config_arena, sizeof(peko_config)),
                              edge_info("localhost", 0, NULL, NULL), &none),
                     PEKO_ERR_INVALID_ARG);
        CHECK(none == NULL);
        {
            size_t i;
            for (i = 0; i < sizeof s; i++)
                CHECK(((const unsigned char *)&s)[i] == CANARY);
        }
    }

    g_step = "free";
    peko_free(b);
    peko_free(c);
    peko_free(a);
    peko_free(NULL);
    CHECK_OK(peko_set_log(NULL, NULL, PEKO_LOG_ERROR));
    pthread_mutex_lock(&g_log_mu);
    CHECK(g_log_lines > 0);
    pthread_mutex_unlock(&g_log_mu);

    arena_free(&g_info_arena);
    arena_free(&g_config_arena);
    printf("v1_header_compat: OK: every v1 call on a 3-member cluster with library %s, no byte "
           "written or read beyond the v1 structs (%.1f s, %lu log lines)\n",
           peko_version(), now_s() - t0, g_log_lines);
    return 0;
}
