/* The app.c of the README's build commands, as make test-install builds them
 * (tests/install/test-build-tree.sh, test-install.sh, test-cmake.sh): one member on
 * 127.0.0.1 with a port the system picks, joined; prints the library's version, then the
 * member peko_get lists first, which must be itself. Exit status 0 only if all of that works. */
#include <stdio.h>
#include <string.h>
#include "pekonode.h"

static int fail(const char *call) {
    char msg[256];
    peko_last_error(msg, sizeof msg);
    fprintf(stderr, "%s: %s\n", call, msg);
    return 1;
}

int main(void) {
    peko_config cfg;
    peko_config_default(&cfg);
    cfg.listen_addr = "127.0.0.1";
    peko_node_info me = { "127.0.0.1", 0, "app", NULL };
    peko_node *node;
    if (peko_new(&cfg, &me, &node) != PEKO_OK) return fail("peko_new");
    if (peko_join(node) != PEKO_OK) {
        peko_free(node);
        return fail("peko_join");
    }
    int rc = 1;
    uint16_t port = 0;
    peko_node_info *list;
    size_t n;
    if (peko_local_port(node, &port) == PEKO_OK && peko_get(node, &list, &n) == PEKO_OK) {
        if (n >= 1 && strcmp(list[0].addr, "127.0.0.1") == 0 && list[0].port == port && port != 0) {
            printf("%s\n%s:%u\n", peko_version(), list[0].addr, list[0].port);
            rc = 0;
        } else {
            fprintf(stderr, "peko_get does not list this member first (port %u)\n", port);
        }
        peko_nodes_free(list, n);
    } else {
        rc = fail("peko_local_port/peko_get");
    }
    peko_free(node);
    return rc;
}
