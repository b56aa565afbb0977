// The app.cpp of the README's C++ build commands, as make test-install builds them
// (tests/install/test-build-tree.sh and test-cmake.sh): app.c's checks through pekonode.hpp.
// Prints the library's version, then the member get() lists first, which must be itself.
#include <iostream>
#include <vector>

#include "pekonode.hpp"

int main() {
    try {
        peko::Config cfg;
        cfg.listen_addr = "127.0.0.1";
        peko::Node node(cfg, {"127.0.0.1", 0, "app"});
        node.join();
        const std::vector<peko::Member> members = node.get();
        const std::uint16_t port = node.local_port();
        if (members.empty() || members[0].addr != "127.0.0.1" || members[0].port != port ||
            port == 0) {
            std::cerr << "get() does not list this member first (port " << port << ")\n";
            return 1;
        }
        std::cout << peko::version() << '\n' << members[0].addr << ':' << members[0].port << '\n';
        return 0;
    } catch (const peko::Error& e) {
        std::cerr << e.what() << '\n';
        return 1;
    }
}
