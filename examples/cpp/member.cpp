// A cluster member using the C++ wrapper (include/pekonode.hpp): joins, prints the member list
// whenever it changes and every event as it comes, and shows the cluster metadata.
//
//   build/cpp/member --port 7946 --name a
//   build/cpp/member --port 7947 --name b --join 127.0.0.1:7946 --publish "hello"
//
// Options: --addr IP (default 127.0.0.1; also the bind address), --port N (0 = any),
// --join IP:PORT (repeatable), --name S, --data S, --publish S, --cycle MS,
// --seconds N (0 = until Ctrl-C), --print (the library's console log).
// Exit status: 0 done, 1 a pekonode error, 2 a bad option.
//
// Build: make examples-cpp, or by hand
//   c++ -std=c++17 -Iinclude examples/cpp/member.cpp target/release/libpekonode.a
//       -lpthread -ldl -lm -o build/cpp/member

#include <poll.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "pekonode.hpp"

namespace {

std::atomic<bool> g_quit{false};

extern "C" void on_signal(int) { g_quit = true; }

int usage(const std::string& why) {
    std::cerr << "member: " << why << "\n"
              << "usage: member [--addr IP] [--port N] [--join IP:PORT]... [--name S] [--data S]\n"
              << "              [--publish S] [--cycle MS] [--seconds N] [--print]\n";
    return 2;
}

bool parse_number(const std::string& s, unsigned long max, unsigned long& out) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
    try {
        out = std::stoul(s);
    } catch (const std::exception&) {
        return false;
    }
    return out <= max;
}

// "IP:PORT" or "[IPv6]:PORT".
bool parse_peer(const std::string& s, peko::Member& out) {
    std::string::size_type colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    std::string host = s.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    unsigned long port = 0;
    if (!parse_number(s.substr(colon + 1), 65535, port) || port == 0) return false;
    out = peko::Member(host, static_cast<std::uint16_t>(port));
    return true;
}

void print_list(const peko::Node& node) {
    std::vector<peko::Member> list = node.get();
    std::cout << "members (" << list.size() << "):\n";
    for (const peko::Member& m : list)
        std::cout << "  " << m.addr << ':' << m.port << "  name=\"" << m.name << "\" data=\""
                  << m.private_data << "\"\n";
}

void print_metadata(const peko::Node& node) {
    std::vector<std::uint8_t> meta = node.read();
    std::cout << "metadata (" << meta.size() << " bytes): \"";
    for (std::uint8_t b : meta) {
        if (b >= 0x20 && b < 0x7f)
            std::cout << static_cast<char>(b);
        else
            std::cout << "\\x" << "0123456789abcdef"[b >> 4] << "0123456789abcdef"[b & 15];
    }
    std::cout << "\"\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::string addr = "127.0.0.1", name = "cpp-member", data, publish;
    bool have_publish = false;
    unsigned long port = 0, seconds = 0, cycle = 0;
    std::vector<peko::Member> peers;
    peko::Config cfg;

    for (int i = 1; i < argc; ++i) {
        const std::string opt = argv[i];
        if (opt == "--print") {
            cfg.print = true;
            continue;
        }
        if (i + 1 >= argc) return usage("missing value for " + opt);
        const std::string val = argv[++i];
        if (opt == "--addr") {
            addr = val;
        } else if (opt == "--port") {
            if (!parse_number(val, 65535, port)) return usage("bad port: " + val);
        } else if (opt == "--join") {
            peko::Member peer;
            if (!parse_peer(val, peer)) return usage("bad --join (want IP:PORT): " + val);
            peers.push_back(peer);
        } else if (opt == "--name") {
            name = val;
        } else if (opt == "--data") {
            data = val;
        } else if (opt == "--publish") {
            publish = val;
            have_publish = true;
        } else if (opt == "--cycle") {
            if (!parse_number(val, 3600000, cycle) || cycle == 0) return usage("bad cycle: " + val);
        } else if (opt == "--seconds") {
            if (!parse_number(val, 86400 * 365, seconds)) return usage("bad seconds: " + val);
        } else {
            return usage("unknown option " + opt);
        }
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    try {
        cfg.listen_addr = addr;
        if (cycle != 0) cfg.cycle = std::chrono::milliseconds(cycle);
        peko::Node node(cfg, peko::Member(addr, static_cast<std::uint16_t>(port), name, data));
        for (const peko::Member& peer : peers) node.set(peer);
        node.join();
        std::cout << "pekonode " << peko::version() << ": " << name << " on " << addr << ':'
                  << node.local_port() << "\n";
        if (have_publish) node.publish(publish);
        print_list(node);

        // Wait on the event descriptor (as an event loop would), then drain the events.
        const int fd = node.event_fd();
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (!g_quit && (seconds == 0 || std::chrono::steady_clock::now() < end)) {
            pollfd p{};
            p.fd = fd;
            p.events = POLLIN;
            if (::poll(&p, 1, 200) <= 0) continue;  // timeout, or EINTR from Ctrl-C
            bool membership_changed = false;
            while (std::optional<peko::Event> ev = node.next_event()) {
                std::cout << "[event] " << peko::to_string(ev->kind) << ' ' << ev->member.addr
                          << ':' << ev->member.port;
                if (!ev->member.name.empty()) std::cout << " name=\"" << ev->member.name << '"';
                if (ev->lost != 0) std::cout << " (" << ev->lost << " events lost before)";
                std::cout << "\n";
                if (ev->kind == peko::EventKind::Metadata)
                    print_metadata(node);
                else
                    membership_changed = true;
            }
            if (membership_changed) print_list(node);
        }

        if (!node.leave(std::chrono::seconds(1)))
            std::cerr << "member: leave notices still queued after 1 s\n";
        std::cout << "left\n";
        // ~Node frees the handle and closes the sockets.
    } catch (const peko::Error& e) {
        std::cerr << "member: " << e.what() << " [" << e.status_str() << "]\n";
        return 1;
    }
    return 0;
}
