/*
 * node: one pekonode member as a command-line program.
 *
 *   node [--addr A] [--port N] [--join HOST:PORT]... [--name S] [--data S]
 *        [--key S] [--label S] [--tcp] [--publish TEXT] [--print] [--cycle MS]
 *        [--timeout MS] [--rounds N] [--compat native|go-pekonode] [--machine]
 *        [--commands]
 *
 * It joins, then once per round prints the member list and the cluster
 * metadata.  It runs until SIGINT/SIGTERM (or --rounds N rounds), then leaves
 * and frees the node.
 *
 * --machine prints, instead, one line per round for a program to read:
 *   LIST <unix ms> <count> <addr:port>...     the member list, the local one first
 *   META <unix ms> <hex of the metadata>      (only when there is some)
 *   EVENT <unix ms> <JOINED|LEFT|FAILED|UPDATED|METADATA> <addr:port>
 * --commands reads commands from standard input, one per line, and answers
 * each with "OK <command>" or "ERR <command>: <message>":
 *   key-install S | key-use S | key-remove S | encryption accept|send|require
 *   publish TEXT
 *
 * --compat go-pekonode speaks the packets of the Go library
 * github.com/dpwgc/pekonode instead (peko_compat_set), to join a cluster of Go
 * nodes with the same --key; --label is refused in that mode, and so are the
 * key-* and encryption commands.
 *
 * Example, two terminals:
 *   build/node --port 7946 --name a --publish "hello"
 *   build/node --port 7947 --name b --join 127.0.0.1:7946
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pekonode.h"

#define DEFAULT_PORT 7946
#define DEFAULT_CYCLE_MS 500 /* the library's default round period */

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *to, const char *prog)
{
    fprintf(to,
            "usage: %s [options]\n"
            "  --addr A          this member's address (IPv4/IPv6 literal; default 127.0.0.1);\n"
            "                    also the address the sockets listen on\n"
            "  --port N          UDP and TCP port (default %d; 0 = any free port)\n"
            "  --join HOST:PORT  a member to join through (repeatable; IPv6 as [::1]:7946)\n"
            "  --name S          this member's name\n"
            "  --data S          this member's private data\n"
            "  --key S           shared secret key\n"
            "  --label S         cluster label\n"
            "  --tcp             use TCP instead of UDP\n"
            "  --publish TEXT    publish TEXT as cluster metadata after joining\n"
            "  --print           let the library log to the console\n"
            "  --cycle MS        round period in ms (default %d)\n"
            "  --timeout MS      silent members are dropped after MS ms (default 5000,\n"
            "                    or 10 x cycle when that is longer)\n"
            "  --rounds N        exit after N rounds (default: until SIGINT/SIGTERM)\n"
            "  --compat MODE     native (default), or go-pekonode: speak the Go pekonode's\n"
            "                    packets to join a cluster of Go nodes (same --key; no --label)\n"
            "  --machine         one line per round and event, for programs (see the source)\n"
            "  --commands        read commands from standard input (see the source)\n"
            "  --help            this text\n",
            prog, DEFAULT_PORT, DEFAULT_CYCLE_MS);
}

static int parse_u32(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;
    if (s == NULL || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return 0;
    *out = v;
    return 1;
}

/* Splits "1.2.3.4:7946" or "[::1]:7946" into a freshly allocated host and a
 * port.  A bare IPv6 address without brackets is ambiguous and refused. */
static int parse_host_port(const char *arg, char **host, uint16_t *port)
{
    const char *h, *colon;
    size_t hlen;
    unsigned long p;

    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (close == NULL || close[1] != ':')
            return 0;
        h = arg + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(arg, ':');
        if (colon == NULL || memchr(arg, ':', (size_t)(colon - arg)) != NULL)
            return 0;
        h = arg;
        hlen = (size_t)(colon - arg);
    }
    if (hlen == 0 || !parse_u32(colon + 1, 65535, &p) || p == 0)
        return 0;
    *host = (char *)malloc(hlen + 1);
    if (*host == NULL)
        return 0;
    memcpy(*host, h, hlen);
    (*host)[hlen] = '\0';
    *port = (uint16_t)p;
    return 1;
}

static int takes_value_option(const char *opt)
{
    static const char *const options[] = {
        "--addr", "--port", "--join", "--name", "--data", "--key", "--label",
        "--publish", "--cycle", "--timeout", "--rounds", "--compat",
    };
    size_t i;
    for (i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(opt, options[i]) == 0)
            return 1;
    return 0;
}

static int check(peko_status st, const char *what)
{
    char msg[512];
    if (st == PEKO_OK)
        return 1;
    msg[0] = '\0';
    peko_last_error(msg, sizeof msg);
    fprintf(stderr, "node: %s failed: %s (%u): %s\n", what, peko_status_str(st),
            (unsigned)st, msg[0] != '\0' ? msg : "(no message)");
    return 0;
}

static void print_escaped(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            putchar(p[i]);
        else
            printf("\\x%02x", p[i]);
    }
}

/* Prints the cluster metadata, if any, with the "ask for the length" pattern. */
static int print_metadata(peko_node *node)
{
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    int attempts;

    for (attempts = 0; attempts < 8; attempts++) {
        peko_status st = peko_read(node, buf, cap, &len);
        if (st == PEKO_OK) {
            if (len > 0) {
                printf("  metadata (%lu bytes): ", (unsigned long)len);
                print_escaped(buf, len);
                putchar('\n');
            }
            free(buf);
            return 1;
        }
        if (st != PEKO_ERR_BUFFER_TOO_SMALL) {
            free(buf);
            return check(st, "peko_read");
        }
        /* the metadata may grow between the calls: size up and retry */
        free(buf);
        cap = len;
        buf = (uint8_t *)malloc(cap > 0 ? cap : 1);
        if (buf == NULL) {
            fprintf(stderr, "node: out of memory\n");
            return 0;
        }
    }
    free(buf);
    fprintf(stderr, "node: the metadata kept changing size while being read\n");
    return 0;
}

static int print_round(peko_node *node, unsigned long round)
{
    peko_node_info *nodes = NULL;
    size_t count = 0, i;
    struct timespec now;

    if (!check(peko_get(node, &nodes, &count), "peko_get"))
        return 0;
    clock_gettime(CLOCK_REALTIME, &now);
    printf("round %lu (t=%ld.%03ld): %lu member%s\n", round, (long)now.tv_sec,
           (long)(now.tv_nsec / 1000000L), (unsigned long)count,
           count == 1 ? "" : "s");
    for (i = 0; i < count; i++) {
        const char *addr = nodes[i].addr ? nodes[i].addr : "?";
        int v6 = strchr(addr, ':') != NULL;
        printf("  %s%s%s:%u  name=\"%s\"", v6 ? "[" : "", addr, v6 ? "]" : "",
               nodes[i].port, nodes[i].name ? nodes[i].name : "");
        if (nodes[i].private_data != NULL && nodes[i].private_data[0] != '\0')
            printf("  data=\"%s\"", nodes[i].private_data);
        putchar('\n');
    }
    peko_nodes_free(nodes, count);
    if (!print_metadata(node))
        return 0;
    fflush(stdout);
    return 1;
}

static long long unix_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000L;
}

static void print_addr(const char *addr, uint16_t port)
{
    int v6 = addr != NULL && strchr(addr, ':') != NULL;
    printf(" %s%s%s:%u", v6 ? "[" : "", addr ? addr : "?", v6 ? "]" : "", port);
}

/* --machine: the list, the metadata and the events since the last round. */
static int print_machine(peko_node *node)
{
    static const char *const kinds[] = { "?", "JOINED", "LEFT", "FAILED", "UPDATED", "METADATA" };
    peko_node_info *nodes = NULL;
    size_t count = 0, i, len = 0;
    uint8_t meta[4096];
    peko_event ev;
    peko_status st;

    while ((st = peko_next_event(node, 0, &ev)) == PEKO_OK) {
        printf("EVENT %lld %s", unix_ms(), ev.kind <= 5 ? kinds[ev.kind] : "?");
        print_addr(ev.member.addr, ev.member.port);
        putchar('\n');
        peko_event_clear(&ev);
    }
    if (st != PEKO_ERR_TIMEOUT)
        return check(st, "peko_next_event");
    if (!check(peko_get(node, &nodes, &count), "peko_get"))
        return 0;
    printf("LIST %lld %lu", unix_ms(), (unsigned long)count);
    for (i = 0; i < count; i++)
        print_addr(nodes[i].addr, nodes[i].port);
    putchar('\n');
    peko_nodes_free(nodes, count);
    st = peko_read(node, meta, sizeof meta, &len);
    if (st == PEKO_OK && len > 0) {
        printf("META %lld ", unix_ms());
        for (i = 0; i < len; i++)
            printf("%02x", meta[i]);
        putchar('\n');
    } else if (st != PEKO_OK && st != PEKO_ERR_BUFFER_TOO_SMALL) {
        return check(st, "peko_read");
    }
    fflush(stdout);
    return 1;
}

/* --commands: runs one line read from standard input. */
static void run_command(peko_node *node, char *line)
{
    char *arg = strchr(line, ' ');
    peko_status st;
    char msg[512];

    if (arg != NULL)
        *arg++ = '\0';
    if (strcmp(line, "key-install") == 0 && arg != NULL)
        st = peko_key_install(node, arg);
    else if (strcmp(line, "key-use") == 0 && arg != NULL)
        st = peko_key_use(node, arg);
    else if (strcmp(line, "key-remove") == 0 && arg != NULL)
        st = peko_key_remove(node, arg);
    else if (strcmp(line, "encryption") == 0 && arg != NULL)
        st = peko_encryption_set(node, strcmp(arg, "accept") == 0    ? PEKO_ENCRYPTION_ACCEPT
                                       : strcmp(arg, "send") == 0    ? PEKO_ENCRYPTION_SEND
                                       : strcmp(arg, "require") == 0 ? PEKO_ENCRYPTION_REQUIRE
                                                                     : 0);
    else if (strcmp(line, "publish") == 0 && arg != NULL)
        st = peko_publish(node, (const uint8_t *)arg, strlen(arg));
    else {
        printf("ERR %s: unknown command\n", line);
        fflush(stdout);
        return;
    }
    if (st == PEKO_OK) {
        printf("OK %s\n", line);
    } else {
        msg[0] = '\0';
        peko_last_error(msg, sizeof msg);
        printf("ERR %s: %s\n", line, msg);
    }
    fflush(stdout);
}

/* --commands: the bytes of standard input not yet ended by a newline. */
static char cmd_buf[1024];
static size_t cmd_len = 0;
static int cmd_eof = 0;

static void read_commands(peko_node *node)
{
    ssize_t n = read(STDIN_FILENO, cmd_buf + cmd_len, sizeof cmd_buf - 1 - cmd_len);
    char *nl;
    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN))
            cmd_eof = 1;
        return;
    }
    cmd_len += (size_t)n;
    cmd_buf[cmd_len] = '\0';
    while ((nl = strchr(cmd_buf, '\n')) != NULL) {
        *nl = '\0';
        run_command(node, cmd_buf);
        cmd_len -= (size_t)(nl + 1 - cmd_buf);
        memmove(cmd_buf, nl + 1, cmd_len + 1);
    }
    if (cmd_len == sizeof cmd_buf - 1) /* a line too long: dropped */
        cmd_len = 0;
}

/* Sleeps ms milliseconds unless a signal asks us to stop first; with
 * `commands`, runs the commands that arrive meanwhile. */
static void wait_round(unsigned long ms, peko_node *node, int commands)
{
    long long end = unix_ms() + (long long)ms;
    for (;;) {
        long long left = end - unix_ms();
        struct pollfd p;
        if (stop_requested || left <= 0)
            return;
        p.fd = STDIN_FILENO;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, commands && !cmd_eof ? 1 : 0, (int)left) > 0)
            read_commands(node);
    }
}

int main(int argc, char **argv)
{
    const char *prog = argv[0] != NULL ? argv[0] : "node";
    const char *addr = "127.0.0.1", *name = NULL, *data = NULL, *key = NULL, *label = NULL;
    const char *publish = NULL;
    unsigned long port = DEFAULT_PORT, cycle = 0, timeout = 0, rounds = 0;
    int tcp = 0, print = 0, have_rounds = 0, machine = 0, commands = 0, i, rc = 1;
    uint32_t compat = PEKO_COMPAT_NATIVE;
    char **join_hosts = NULL;
    uint16_t *join_ports = NULL;
    size_t njoin = 0, j;
    peko_config cfg;
    peko_node_info local;
    peko_node *node = NULL;
    struct sigaction sa;
    unsigned long round;
    uint16_t bound = 0;

    /* Line-buffered, so our lines and the library's console log (--print)
     * keep their order when stdout is a file or a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    for (i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = 1;
        int good = 1, known = 1;

        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout, prog);
            rc = 0;
            goto done;
        } else if (strcmp(opt, "--tcp") == 0) {
            tcp = 1;
            takes_value = 0;
        } else if (strcmp(opt, "--print") == 0) {
            print = 1;
            takes_value = 0;
        } else if (strcmp(opt, "--machine") == 0) {
            machine = 1;
            takes_value = 0;
        } else if (strcmp(opt, "--commands") == 0) {
            commands = 1;
            takes_value = 0;
        } else if (!takes_value_option(opt)) {
            known = 0;
            good = 0;
        } else if (val == NULL) {
            good = 0;
        } else if (strcmp(opt, "--addr") == 0) {
            addr = val;
        } else if (strcmp(opt, "--port") == 0) {
            good = parse_u32(val, 65535, &port);
        } else if (strcmp(opt, "--join") == 0) {
            char **h = (char **)realloc(join_hosts, (njoin + 1) * sizeof *h);
            uint16_t *p;
            if (h != NULL)
                join_hosts = h;
            p = (uint16_t *)realloc(join_ports, (njoin + 1) * sizeof *p);
            if (p != NULL)
                join_ports = p;
            if (h == NULL || p == NULL) {
                fprintf(stderr, "node: out of memory\n");
                goto done;
            }
            good = parse_host_port(val, &join_hosts[njoin], &join_ports[njoin]);
            if (good)
                njoin++;
        } else if (strcmp(opt, "--name") == 0) {
            name = val;
        } else if (strcmp(opt, "--data") == 0) {
            data = val;
        } else if (strcmp(opt, "--key") == 0) {
            key = val;
        } else if (strcmp(opt, "--label") == 0) {
            label = val;
        } else if (strcmp(opt, "--publish") == 0) {
            publish = val;
        } else if (strcmp(opt, "--cycle") == 0) {
            good = parse_u32(val, 0xffffffffUL, &cycle);
        } else if (strcmp(opt, "--timeout") == 0) {
            good = parse_u32(val, 0xffffffffUL, &timeout);
        } else if (strcmp(opt, "--rounds") == 0) {
            good = parse_u32(val, 0xffffffffUL, &rounds) && rounds > 0;
            have_rounds = 1;
        } else if (strcmp(opt, "--compat") == 0) {
            if (strcmp(val, "native") == 0)
                compat = PEKO_COMPAT_NATIVE;
            else if (strcmp(val, "go-pekonode") == 0)
                compat = PEKO_COMPAT_GO_PEKONODE;
            else {
                fprintf(stderr, "%s: --compat takes native or go-pekonode, not '%s'\n", prog,
                        val);
                usage(stderr, prog);
                rc = 2;
                goto done;
            }
        }
        if (!good) {
            if (!known)
                fprintf(stderr, "%s: unknown option '%s'\n", prog, opt);
            else if (val == NULL)
                fprintf(stderr, "%s: option '%s' needs a value\n", prog, opt);
            else
                fprintf(stderr, "%s: bad value for %s: '%s'\n", prog, opt, val);
            usage(stderr, prog);
            rc = 2;
            goto done;
        }
        if (takes_value)
            i++;
    }

    peko_config_default(&cfg);
    cfg.cycle_ms = (uint32_t)cycle;
    cfg.timeout_ms = (uint32_t)timeout;
    cfg.secret_key = key;
    cfg.protocol = tcp ? PEKO_PROTOCOL_TCP : PEKO_PROTOCOL_UDP;
    cfg.listen_addr = addr; /* listen only where we say we are */
    cfg.is_print = print ? true : false;

    local.addr = addr;
    local.port = (uint16_t)port;
    local.name = name;
    local.private_data = data;

    if (!check(peko_new(&cfg, &local, &node), "peko_new"))
        goto done;
    if (!check(peko_compat_set(node, compat), "peko_compat_set"))
        goto done;
    if (label != NULL && !check(peko_label_set(node, label), "peko_label_set"))
        goto done;
    for (j = 0; j < njoin; j++) {
        peko_node_info peer;
        peer.addr = join_hosts[j];
        peer.port = join_ports[j];
        peer.name = NULL;
        peer.private_data = NULL;
        if (!check(peko_set(node, &peer), "peko_set"))
            goto done;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the round sleep wakes up at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (!check(peko_join(node), "peko_join") ||
        !check(peko_local_port(node, &bound), "peko_local_port"))
        goto done;
    printf("node: %s on %s%s%s:%u (%s%s), version %s\n", name ? name : "(unnamed)",
           strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "",
           bound, tcp ? "tcp" : "udp",
           compat == PEKO_COMPAT_GO_PEKONODE ? ", go-pekonode compat" : "", peko_version());

    if (publish != NULL &&
        !check(peko_publish(node, (const uint8_t *)publish, strlen(publish)),
               "peko_publish"))
        goto done;

    for (round = 1; !stop_requested; round++) {
        wait_round(cycle > 0 ? cycle : DEFAULT_CYCLE_MS, node, commands);
        if (stop_requested)
            break;
        if (!(machine ? print_machine(node) : print_round(node, round)))
            goto done;
        if (have_rounds && round >= rounds)
            break;
    }
    if (stop_requested)
        printf("node: signal received, leaving\n");
    rc = 0;

done:
    peko_free(node); /* leaves the cluster and closes the sockets; NULL is fine */
    for (j = 0; j < njoin; j++)
        free(join_hosts[j]);
    free(join_hosts);
    free(join_ports);
    return rc;
}
