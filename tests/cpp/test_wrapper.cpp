// GoogleTest suite for include/pekonode.hpp (the C++ wrapper), against the real library on
// 127.0.0.1 with OS-chosen ports. Built under AddressSanitizer/UBSan by default, so a double
// free, a leaked peko_get array or an uncleared event fails the run.
//
// Cluster conditions are polled with generous deadlines; nothing waits a fixed time.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "pekonode.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// How long a cluster condition may take before the test fails (it normally takes < 2 s).
constexpr auto kDeadline = 30s;
const std::string kLoopback = "127.0.0.1";

// Defaults, bound to loopback only, with a fast cycle so the tests finish soon.
peko::Config loopback_config() {
    peko::Config cfg;
    cfg.listen_addr = kLoopback;
    cfg.cycle = 100ms;
    cfg.timeout = 2s;
    return cfg;
}

// A joined member on an OS-chosen loopback port (returned by move).
peko::Node joined(const std::string& name, const std::string& data = std::string(),
                  const peko::Config& cfg = loopback_config()) {
    peko::Node node(cfg, peko::Member(kLoopback, 0, name, data));
    node.join();
    if (node.local_port() == 0) throw std::runtime_error("local_port() is 0 after join()");
    return node;
}

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Polls `cond` until it holds or `deadline` passes; returns whether it held.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds deadline = kDeadline) {
    const auto end = Clock::now() + deadline;
    for (;;) {
        if (cond()) return true;
        if (Clock::now() >= end) return false;
        std::this_thread::sleep_for(20ms);
    }
}

std::optional<peko::Member> find(const std::vector<peko::Member>& list, std::uint16_t port) {
    for (const peko::Member& m : list)
        if (m.addr == kLoopback && m.port == port) return m;
    return std::nullopt;
}

// Reads events until one matches `want`, or the deadline passes. Every event read is
// appended to `seen` (when given), for the failure message.
bool wait_event(peko::Node& node, const std::function<bool(const peko::Event&)>& want,
                std::vector<peko::Event>* seen = nullptr) {
    const auto end = Clock::now() + kDeadline;
    while (Clock::now() < end) {
        std::optional<peko::Event> ev = node.next_event(200ms);
        if (!ev) continue;
        if (seen != nullptr) seen->push_back(*ev);
        if (want(*ev)) return true;
    }
    return false;
}

std::string describe(const std::vector<peko::Event>& events) {
    std::string out;
    for (const peko::Event& e : events)
        out += std::string(" ") + peko::to_string(e.kind) + "(" + std::to_string(e.member.port) +
               ",\"" + e.member.name + "\")";
    return out;
}

std::string describe(const std::vector<peko::Member>& list) {
    std::string out;
    for (const peko::Member& m : list)
        out += " " + m.addr + ":" + std::to_string(m.port) + "(\"" + m.name + "\",\"" +
               m.private_data + "\")";
    return out;
}

bool readable(int fd, int timeout_ms) {
    pollfd p{};
    p.fd = fd;
    p.events = POLLIN;
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

// This thread's current peko_last_error, read straight from the C API.
std::string c_last_error() {
    char buf[1024] = {};
    peko_last_error(buf, sizeof buf);
    return buf;
}

// Runs `fn`, which must throw peko::Error with `status`; returns the error.
template <class Fn>
peko::Error expect_error(Fn&& fn, peko_status status, const char* what) {
    try {
        fn();
    } catch (const peko::Error& e) {
        EXPECT_EQ(e.status(), status)
            << what << ": got status " << e.status() << " (" << e.status_str() << "): " << e.what();
        EXPECT_FALSE(e.message().empty()) << what << ": empty message";
        EXPECT_NE(std::string(e.what()).find(e.message()), std::string::npos)
            << what << ": what() \"" << e.what() << "\" lacks the message";
        return e;
    } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": threw a non-peko exception: " << e.what();
        return peko::Error(PEKO_ERR_PANIC, "", "wrong exception");
    }
    ADD_FAILURE() << what << ": did not throw";
    return peko::Error(PEKO_OK, "", "no exception");
}

}  // namespace

// ---- basics -------------------------------------------------------------------------------

TEST(Basics, VersionAndStatusStrings) {
    EXPECT_FALSE(peko::version().empty());
    EXPECT_STREQ(peko::status_str(PEKO_OK), "ok");
    EXPECT_STREQ(peko::status_str(PEKO_ERR_STATE), peko_status_str(PEKO_ERR_STATE));
    EXPECT_STREQ(peko::to_string(peko::EventKind::Metadata), "metadata");
}

TEST(Basics, TypesAreMoveOnly) {
    static_assert(!std::is_copy_constructible_v<peko::Node>);
    static_assert(!std::is_copy_assignable_v<peko::Node>);
    static_assert(std::is_nothrow_move_constructible_v<peko::Node>);
    static_assert(std::is_nothrow_move_assignable_v<peko::Node>);
    static_assert(std::is_nothrow_destructible_v<peko::Node>);
    static_assert(std::is_base_of_v<std::runtime_error, peko::Error>);
    SUCCEED();
}

TEST(Basics, LocalPortBeforeAndAfterJoin) {
    peko::Node fixed(loopback_config(), peko::Member(kLoopback, 45999, "fixed"));
    EXPECT_EQ(fixed.local_port(), 45999) << "before join: the configured port (nothing bound)";

    peko::Node node(loopback_config(), peko::Member(kLoopback, 0, "n"));
    EXPECT_EQ(node.local_port(), 0);
    node.join();
    EXPECT_NE(node.local_port(), 0);

    // get() lists the local member first, with its attributes.
    std::vector<peko::Member> list = node.get();
    ASSERT_FALSE(list.empty());
    EXPECT_EQ(list[0], peko::Member(kLoopback, node.local_port(), "n", ""));
}

TEST(Basics, ConfigDurationsAcceptAnyChronoUnit) {
    peko::Config cfg = loopback_config();
    cfg.cycle = std::chrono::seconds(1);  // converts to milliseconds
    cfg.timeout = std::chrono::minutes(1);
    cfg.amount = 2;
    cfg.buffer = 64;
    cfg.size = 2048;
    cfg.secret_key = "loopback only";
    cfg.protocol = peko::Protocol::Tcp;
    peko::Node node(cfg, peko::Member(kLoopback, 0, "cfg"));
    node.join();
    EXPECT_NE(node.local_port(), 0);
    // size took effect
    EXPECT_NO_THROW(node.publish(std::vector<std::uint8_t>(2048, 7)));
    expect_error([&] { node.publish(std::vector<std::uint8_t>(2049, 7)); }, PEKO_ERR_TOO_LARGE,
                 "publish 2049 bytes with size 2048");
}

// ---- a three-member cluster -----------------------------------------------------------------

TEST(Cluster, ThreeMembersConverge) {
    peko::Node a = joined("alpha", "alpha-data");
    peko::Node b = joined("beta", "beta-data");
    peko::Node c = joined("gamma", "gamma-data");
    const std::uint16_t pa = a.local_port(), pb = b.local_port(), pc = c.local_port();
    ASSERT_TRUE(pa != pb && pb != pc && pa != pc);

    // b and c know only a (with no attributes: the real ones must arrive by gossip).
    b.set(peko::Member(kLoopback, pa));
    c.set(peko::Member(kLoopback, pa));

    const std::vector<peko::Member> want = {
        peko::Member(kLoopback, pa, "alpha", "alpha-data"),
        peko::Member(kLoopback, pb, "beta", "beta-data"),
        peko::Member(kLoopback, pc, "gamma", "gamma-data"),
    };
    auto complete = [&](peko::Node& n, std::uint16_t self) {
        std::vector<peko::Member> list = n.get();
        if (list.size() != want.size() || list[0].port != self) return false;
        for (const peko::Member& w : want) {
            std::optional<peko::Member> got = find(list, w.port);
            if (!got || *got != w) return false;
        }
        return true;
    };
    const auto t0 = Clock::now();
    const bool converged = eventually([&] {
        return complete(a, pa) && complete(b, pb) && complete(c, pc);
    });
    ASSERT_TRUE(converged) << "no convergence in " << kDeadline.count() << " s:\n  alpha:"
                           << describe(a.get()) << "\n  beta:" << describe(b.get())
                           << "\n  gamma:" << describe(c.get());
    std::cout << "    three members converged in " << seconds_since(t0) << " s\n";

    EXPECT_TRUE(eventually([&] {
        return a.stats().members_alive == 3 && b.stats().members_alive == 3 &&
               c.stats().members_alive == 3;
    }));
    EXPECT_TRUE(eventually([&] { return a.stats().round > 0; })) << "no gossip round ran";
    const peko::Stats st = a.stats();
    EXPECT_GT(st.packets_sent, 0u);
    EXPECT_GT(st.packets_received, 0u);
}

// ---- counters ---------------------------------------------------------------------------------

namespace {

// A loopback TCP port held by a socket that is bound but never listens: a connection to it is
// refused at once, and nothing else can take the port meanwhile. Closed by the destructor.
struct RefusingPort {
    int fd = -1;
    std::uint16_t port = 0;
    RefusingPort() {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) throw std::runtime_error("socket failed");
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
            ::close(fd);
            throw std::runtime_error("bind failed");
        }
        port = ntohs(sa.sin_port);
    }
    RefusingPort(const RefusingPort&) = delete;
    RefusingPort& operator=(const RefusingPort&) = delete;
    ~RefusingPort() { ::close(fd); }
};

}  // namespace

// The counters read with peko_counter reach Stats and move with their cause: an oversized TCP
// frame (dropped_too_large, within dropped_malformed), refused connections (send_errors), more
// silent members failing than the unread event queue keeps (events_lost).
TEST(Counters, BeyondPekoStats) {
    constexpr std::size_t kSilent = 70;  // the queue keeps 64 events while nobody reads them
    peko::Config cfg = loopback_config();
    cfg.protocol = peko::Protocol::Tcp;
    peko::Node a = joined("counted", "", cfg);
    std::vector<std::unique_ptr<RefusingPort>> held;
    for (std::size_t i = 0; i < kSilent; i++) {
        held.push_back(std::make_unique<RefusingPort>());
        a.set(peko::Member(kLoopback, held.back()->port));
    }
    {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_GE(fd, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(a.local_port());
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        // A protocol v4 stream header (docs/protocol.md): PushPull, no key, a body of
        // 2^32 - 1 bytes, beyond any frame limit.
        const unsigned char huge[9] = {'P', 'K', 4, 4, 0, 0xff, 0xff, 0xff, 0xff};
        ASSERT_EQ(::write(fd, huge, sizeof huge), static_cast<ssize_t>(sizeof huge));
        ::close(fd);
    }
    peko::Stats st;
    EXPECT_TRUE(eventually([&] {
        st = a.stats();
        return st.dropped_too_large >= 1 && st.send_errors >= 1 &&
               st.events_lost >= kSilent - 64;
    })) << "dropped_too_large " << st.dropped_too_large << ", send_errors " << st.send_errors
        << ", events_lost " << st.events_lost;
    EXPECT_GE(st.dropped_malformed, st.dropped_too_large);
    EXPECT_EQ(st.udp_datagrams_sent, 0u) << "TCP mode sent a datagram";
    EXPECT_EQ(st.connections_refused, 0u);
    EXPECT_GE(a.counter(PEKO_COUNTER_EVENTS_LOST), st.events_lost);
    expect_error([&] { (void)a.counter(0); }, PEKO_ERR_INVALID_ARG, "counter 0");
}

// ---- metadata ---------------------------------------------------------------------------------

TEST(Metadata, BinaryRoundTrip) {
    peko::Node a = joined("a");
    peko::Node b = joined("b");
    b.set(peko::Member(kLoopback, a.local_port()));

    EXPECT_TRUE(a.read().empty()) << "never published: empty";
    EXPECT_EQ(a.read_string(), "");

    // Bytes with NULs (leading, inside, trailing) and high bytes.
    const std::vector<std::uint8_t> bin = {0x00, 'p', 'e', 'k', 'o', 0x00, 0xff,
                                           0x7f, 0x00, 0x80, 0x01, 0x00};
    a.publish(bin);
    EXPECT_TRUE(eventually([&] { return a.read() == bin; })) << "local read of the publish";
    EXPECT_TRUE(eventually([&] { return b.read() == bin; })) << "binary metadata never reached b";

    // string_view overload, NULs included (the length is the view's, not strlen).
    const std::string_view text("x\0y\0z", 5);
    b.publish(text);
    EXPECT_TRUE(eventually([&] { return a.read_string() == text; }))
        << "string_view metadata never reached a";
    EXPECT_EQ(a.read().size(), 5u);

    // Larger than a datagram (announced by rumor, fetched over TCP); every byte value.
    std::vector<std::uint8_t> big(12000);
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<std::uint8_t>((i * 131u + i / 256u) & 0xffu);
    a.publish(big);
    EXPECT_TRUE(eventually([&] { return b.read() == big; }))
        << "12000-byte metadata never reached b";

    // Raw pointer + length overload.
    const std::uint8_t raw[] = {1, 0, 2};
    b.publish(raw, sizeof raw);
    EXPECT_TRUE(eventually([&] { return a.read() == std::vector<std::uint8_t>{1, 0, 2}; }));
}

// ---- events -------------------------------------------------------------------------------------

TEST(Events, JoinedUpdatedMetadataLeft) {
    peko::Node a = joined("a");
    peko::Node b = joined("b", "b-data");
    peko::Node c = joined("c", "c-data");
    const std::uint16_t pb = b.local_port(), pc = c.local_port();
    b.set(peko::Member(kLoopback, a.local_port()));
    c.set(peko::Member(kLoopback, a.local_port()));

    std::vector<peko::Event> seen;
    bool b_joined = false, c_joined = false;
    ASSERT_TRUE(wait_event(a, [&](const peko::Event& e) {
        if (e.kind == peko::EventKind::Joined && e.member.addr == kLoopback) {
            if (e.member.port == pb && e.member.name == "b" && e.member.private_data == "b-data")
                b_joined = true;
            if (e.member.port == pc && e.member.name == "c" && e.member.private_data == "c-data")
                c_joined = true;
        }
        return b_joined && c_joined;
    }, &seen)) << "joined events for b and c; got:" << describe(seen) << "\n  a lists:"
                << describe(a.get()) << "\n  b lists:" << describe(b.get());

    // The descriptor turns readable when an event is pending.
    const int fd = a.event_fd();
    ASSERT_GE(fd, 0);
    b.update("b, renamed", "b-data-2");
    EXPECT_TRUE(eventually([&] { return readable(fd, 0); })) << "event fd never readable";
    seen.clear();
    EXPECT_TRUE(wait_event(a, [&](const peko::Event& e) {
        return e.kind == peko::EventKind::Updated && e.member.port == pb &&
               e.member.name == "b, renamed" && e.member.private_data == "b-data-2";
    }, &seen)) << "updated event; got:" << describe(seen);
    EXPECT_TRUE(eventually([&] {
        std::optional<peko::Member> m = find(a.get(), pb);
        return m && m->name == "b, renamed" && m->private_data == "b-data-2";
    }));

    seen.clear();
    c.publish("cfg");
    EXPECT_TRUE(wait_event(a, [&](const peko::Event& e) {
        return e.kind == peko::EventKind::Metadata && e.member.port == pc;
    }, &seen)) << "metadata event from c; got:" << describe(seen);

    seen.clear();
    EXPECT_TRUE(b.leave(2s)) << "leave notices still queued after 2 s";
    EXPECT_TRUE(wait_event(a, [&](const peko::Event& e) {
        return e.kind == peko::EventKind::Left && e.member.port == pb;
    }, &seen)) << "left event for b; got:" << describe(seen);

    // Drain: with nothing pending, next_event returns nullopt and the descriptor goes quiet.
    EXPECT_TRUE(eventually([&] {
        while (a.next_event(0ms)) {
        }
        return !readable(fd, 100);
    }));
}

TEST(Events, NextEventTimesOutWithNullopt) {
    peko::Node n = joined("lonely");
    while (n.next_event(0ms)) {  // nothing expected, but drain whatever is there
    }
    const auto t0 = Clock::now();
    EXPECT_FALSE(n.next_event(100ms).has_value());
    EXPECT_GE(seconds_since(t0), 0.09) << "next_event(100ms) returned early";
    EXPECT_FALSE(n.next_event(-5ms).has_value()) << "a negative wait is 0";
}

// ---- move semantics -------------------------------------------------------------------------------

TEST(Move, ConstructTransfersTheHandle) {
    peko::Node a = joined("a");
    const std::uint16_t port = a.local_port();
    peko_node* const h = a.native_handle();

    peko::Node b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is the test
    EXPECT_FALSE(static_cast<bool>(a));
    EXPECT_EQ(a.native_handle(), nullptr);
    EXPECT_TRUE(b.valid());
    EXPECT_EQ(b.native_handle(), h);
    EXPECT_EQ(b.local_port(), port);
    EXPECT_EQ(b.get().at(0).port, port);
    // a and b both go out of scope here: one peko_free, no double free (ASan checks).
}

TEST(Move, MovedFromCallsThrowAndDestroySafely) {
    peko::Node a = joined("a");
    peko::Node b = std::move(a);
    const char* what = "moved-from";
    // NOLINTBEGIN(bugprone-use-after-move)
    expect_error([&] { a.set(peko::Member(kLoopback, 7946)); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { a.join(); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { (void)a.get(); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { a.publish("x"); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { (void)a.read(); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { a.stop(); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { a.start(); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { (void)a.leave(10ms); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { a.update("n", "d"); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { (void)a.stats(); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { (void)a.counter(PEKO_COUNTER_ROUND); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { (void)a.local_port(); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { (void)a.next_event(0ms); }, PEKO_ERR_NULL_ARG, what);
    expect_error([&] { (void)a.event_fd(); }, PEKO_ERR_NULL_ARG, what);
    // Moving a moved-from object around is fine too.
    peko::Node c(std::move(a));
    EXPECT_FALSE(c.valid());
    a = std::move(c);
    EXPECT_FALSE(a.valid());
    // NOLINTEND(bugprone-use-after-move)
    EXPECT_TRUE(b.valid());
    EXPECT_NE(b.local_port(), 0);
}

TEST(Move, AssignFreesTheOldHandle) {
    peko::Node x = joined("x");
    const std::uint16_t px = x.local_port();
    peko::Node y = joined("y");
    const std::uint16_t py = y.local_port();

    x = std::move(y);  // x's old member is freed: it leaves and its sockets close at once
    EXPECT_FALSE(y.valid());  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(x.local_port(), py);

    // peko_free closed x's old sockets before returning: the port binds again right away.
    peko::Node z(loopback_config(), peko::Member(kLoopback, px, "z"));
    EXPECT_NO_THROW(z.join()) << "port " << px << " still bound after move-assignment";
    EXPECT_EQ(z.local_port(), px);

    // Self-move-assignment keeps the handle.
    peko::Node& alias = x;
    x = std::move(alias);
    EXPECT_TRUE(x.valid());
    EXPECT_EQ(x.local_port(), py);

    // Assigning into a moved-from object.
    y = joined("y2");
    EXPECT_TRUE(y.valid());
    EXPECT_NE(y.local_port(), 0);
}

TEST(Move, NodesInAVectorSurviveReallocation) {
    std::vector<peko::Node> nodes;
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < 5; ++i) {  // no reserve(): reallocations move the nodes
        nodes.push_back(joined("v" + std::to_string(i)));
        ports.push_back(nodes.back().local_port());
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        ASSERT_TRUE(nodes[i].valid());
        EXPECT_EQ(nodes[i].local_port(), ports[i]);
    }
    nodes.erase(nodes.begin() + 1);  // shifts by move-assignment
    ASSERT_EQ(nodes.size(), 4u);
    EXPECT_EQ(nodes[1].local_port(), ports[2]);
    EXPECT_EQ(nodes[3].local_port(), ports[4]);
}

// ---- errors as exceptions ---------------------------------------------------------------------

TEST(Errors, BadAddressIsInvalidArg) {
    for (const char* bad : {"not-an-ip", "localhost", "256.0.0.1", "127.0.0.1:7946", ""}) {
        peko::Error e = expect_error(
            [&] { peko::Node n(loopback_config(), peko::Member(bad, 0, "n")); }, PEKO_ERR_INVALID_ARG,
            bad);
        // The message is the library's own, fetched on this thread right after the call.
        EXPECT_EQ(e.message(), c_last_error()) << bad;
        EXPECT_NE(std::string(e.what()).find("peko_new"), std::string::npos) << e.what();
        std::cout << "    addr \"" << bad << "\" -> " << e.what() << "\n";
    }

    peko::Config cfg = loopback_config();
    cfg.listen_addr = "not-an-ip";
    expect_error([&] { peko::Node n(cfg, peko::Member(kLoopback, 0)); }, PEKO_ERR_INVALID_ARG,
                 "listen_addr not-an-ip");

    peko::Node node(loopback_config(), peko::Member(kLoopback, 0, "n"));
    peko::Error e = expect_error([&] { node.set(peko::Member("no.such.host", 7946)); },
                                 PEKO_ERR_INVALID_ARG, "set no.such.host");
    EXPECT_EQ(e.message(), c_last_error());
    expect_error([&] { node.set(peko::Member(kLoopback, 0)); }, PEKO_ERR_INVALID_ARG, "set port 0");

    // Caught as the standard base class too.
    try {
        node.set(peko::Member("bad", 1));
        ADD_FAILURE() << "set(\"bad\") did not throw";
    } catch (const std::runtime_error& base) {
        EXPECT_NE(std::string(base.what()).find("peko_set"), std::string::npos) << base.what();
    }
}

TEST(Errors, DoubleJoinIsState) {
    peko::Node node = joined("n");
    const std::uint16_t port = node.local_port();
    peko::Error e = expect_error([&] { node.join(); }, PEKO_ERR_STATE, "second join");
    EXPECT_EQ(e.message(), c_last_error());
    EXPECT_STREQ(e.status_str(), peko_status_str(PEKO_ERR_STATE));
    EXPECT_EQ(node.local_port(), port) << "still works after the refused join";
}

TEST(Errors, PublishTooLarge) {
    peko::Node dflt = joined("d");  // default size 16384
    dflt.publish("keep");
    peko::Error e = expect_error([&] { dflt.publish(std::vector<std::uint8_t>(16385)); },
                                 PEKO_ERR_TOO_LARGE, "publish 16385 bytes");
    EXPECT_EQ(e.message(), c_last_error());
    expect_error([&] { dflt.publish(std::string(65536, 'x')); }, PEKO_ERR_TOO_LARGE,
                 "publish 65536 bytes");
    EXPECT_TRUE(eventually([&] { return dflt.read_string() == "keep"; }))
        << "a rejected publish changed the metadata";

    peko::Config cfg = loopback_config();
    cfg.size = 4096;
    peko::Node small = joined("s", "", cfg);
    expect_error([&] { small.publish(std::vector<std::uint8_t>(4097)); }, PEKO_ERR_TOO_LARGE,
                 "publish 4097 bytes with size 4096");
    EXPECT_NO_THROW(small.publish(std::vector<std::uint8_t>(4096)));
}

TEST(Errors, CallsBeforeJoinAreState) {
    peko::Node node(loopback_config(), peko::Member(kLoopback, 0, "n"));
    expect_error([&] { node.stop(); }, PEKO_ERR_STATE, "stop before join");
    expect_error([&] { node.start(); }, PEKO_ERR_STATE, "start before join");
    expect_error([&] { (void)node.leave(100ms); }, PEKO_ERR_STATE, "leave before join");
}

TEST(Errors, PortInUseIsIo) {
    peko::Node first = joined("first");
    peko::Node second(loopback_config(), peko::Member(kLoopback, first.local_port(), "second"));
    peko::Error e = expect_error([&] { second.join(); }, PEKO_ERR_IO, "join on a used port");
    EXPECT_EQ(e.message(), c_last_error());
}

TEST(Errors, CaughtByTheWrapper) {
    // A NUL byte cannot cross the C API: the wrapper refuses instead of truncating.
    expect_error([&] { peko::Node n(loopback_config(), peko::Member(kLoopback, 0, std::string("a\0b", 3))); },
                 PEKO_ERR_INVALID_ARG, "NUL in name");
    peko::Node node(loopback_config(), peko::Member(kLoopback, 0, "n"));
    expect_error([&] { node.update(std::string("x\0", 2), ""); }, PEKO_ERR_INVALID_ARG,
                 "NUL in update name");
    // Durations the C config cannot hold.
    peko::Config cfg = loopback_config();
    cfg.cycle = -1ms;
    expect_error([&] { peko::Node n(cfg, peko::Member(kLoopback, 0)); }, PEKO_ERR_INVALID_ARG,
                 "negative cycle");
    cfg.cycle = std::chrono::hours(24 * 365 * 200);
    expect_error([&] { peko::Node n(cfg, peko::Member(kLoopback, 0)); }, PEKO_ERR_INVALID_ARG,
                 "cycle beyond uint32 ms");
    // In range for the wrapper, refused by the library (cycle below 10 ms).
    cfg.cycle = 5ms;
    expect_error([&] { peko::Node n(cfg, peko::Member(kLoopback, 0)); }, PEKO_ERR_INVALID_ARG,
                 "cycle 5 ms");
}

TEST(Errors, MessagesArePerThread) {
    // Two threads fail different calls at once; each exception carries its own call's message.
    peko::Node node = joined("n");
    std::atomic<int> mismatches{0};
    auto worker = [&](bool set_side) {
        for (int i = 0; i < 200; ++i) {
            try {
                if (set_side)
                    node.set(peko::Member("no.such.host", 7946));
                else
                    node.publish(std::vector<std::uint8_t>(16385));
                mismatches++;
            } catch (const peko::Error& e) {
                const bool ok = set_side ? (e.status() == PEKO_ERR_INVALID_ARG &&
                                            e.message() == c_last_error())
                                         : (e.status() == PEKO_ERR_TOO_LARGE &&
                                            e.message() == c_last_error());
                if (!ok) mismatches++;
            }
        }
    };
    std::thread t1(worker, true), t2(worker, false);
    t1.join();
    t2.join();
    EXPECT_EQ(mismatches.load(), 0);
}

// ---- leave, stop and start ------------------------------------------------------------------------

TEST(Leave, OthersDropTheMemberAtOnce) {
    peko::Node a = joined("a");
    peko::Node b = joined("b");
    const std::uint16_t pa = a.local_port(), pb = b.local_port();
    b.set(peko::Member(kLoopback, pa));
    ASSERT_TRUE(eventually([&] { return find(a.get(), pb) && find(b.get(), pa); }))
        << "a and b never saw each other";

    const auto t0 = Clock::now();
    EXPECT_TRUE(b.leave(2s));
    EXPECT_TRUE(b.leave(2s)) << "a second leave does nothing";
    // Told, not detected: well under the 2 s failure timeout, but allow the generous deadline.
    EXPECT_TRUE(eventually([&] { return !find(a.get(), pb); })) << "a still lists b";
    std::cout << "    a dropped b " << seconds_since(t0) << " s after leave\n";
    EXPECT_EQ(a.get().size(), 1u);

    expect_error([&] { b.update("b2", ""); }, PEKO_ERR_STATE, "update after leave");
    // b is destroyed after leaving: peko_free on a left member is fine.
}

TEST(StopStart, MemberDisappearsAndComesBack) {
    peko::Node a = joined("a");
    peko::Node b = joined("b");
    const std::uint16_t pb = b.local_port();
    b.set(peko::Member(kLoopback, a.local_port()));
    ASSERT_TRUE(eventually([&] { return find(a.get(), pb).has_value(); }));

    b.stop();
    EXPECT_TRUE(eventually([&] { return !find(a.get(), pb); })) << "a still lists stopped b";
    b.start();
    b.start();  // a no-op on a running member
    EXPECT_TRUE(eventually([&] { return find(a.get(), pb).has_value(); }))
        << "restarted b never came back";
}

int main(int argc, char** argv) {
    // A peer vanishing mid-send must not kill the test process.
    std::signal(SIGPIPE, SIG_IGN);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}

// ---- encryption ---------------------------------------------------------------------------

namespace {

peko::Config keyed_config(const std::string& secret) {
    peko::Config cfg = loopback_config();
    cfg.secret_key = secret;
    return cfg;
}

// Waits until every node has run `rounds` more gossip rounds; every list must stay whole.
void run_rounds(std::vector<peko::Node>& nodes, std::uint64_t rounds, const char* step) {
    std::vector<std::uint64_t> start;
    for (peko::Node& n : nodes) start.push_back(n.stats().round);
    bool whole = true;
    const bool done = eventually([&] {
        for (peko::Node& n : nodes) whole = whole && n.stats().members_alive == nodes.size();
        for (std::size_t i = 0; i < nodes.size(); i++)
            if (nodes[i].stats().round < start[i] + rounds) return false;
        return true;
    });
    EXPECT_TRUE(done) << step << ": rounds stopped";
    EXPECT_TRUE(whole) << step << ": a member lost one";
}

}  // namespace

TEST(Keys, CallsAndErrors) {
    peko::Node n(loopback_config(), peko::Member(kLoopback, 0, "keys"));
    EXPECT_TRUE(n.key_list().empty());
    EXPECT_EQ(n.encryption(), peko::Encryption::Accept);
    expect_error([&] { n.set_encryption(peko::Encryption::Send); }, PEKO_ERR_STATE,
                 "Send without a key");
    expect_error([&] { n.key_install(""); }, PEKO_ERR_INVALID_ARG, "empty key");
    expect_error([&] { n.key_install(std::string("a\0b", 3)); }, PEKO_ERR_INVALID_ARG,
                 "key with a NUL");
    n.key_install("a");
    n.key_install("b");
    EXPECT_EQ(n.key_list(), (std::vector<std::string>{peko::key_id("a"), peko::key_id("b")}));
    EXPECT_EQ(peko::key_id("a").size(), 16u);
    expect_error([&] { n.key_remove("a"); }, PEKO_ERR_STATE, "remove the primary");
    expect_error([&] { n.key_use("c"); }, PEKO_ERR_INVALID_ARG, "use an unknown key");
    n.key_use("b");
    n.key_remove("a");
    EXPECT_EQ(n.key_list(), std::vector<std::string>{peko::key_id("b")});
    n.set_encryption(peko::Encryption::Require);
    EXPECT_EQ(n.encryption(), peko::Encryption::Require);
    expect_error([&] { n.set_label(std::string(256, 'x')); }, PEKO_ERR_INVALID_ARG,
                 "label too long");
    n.set_label("blue");
    n.join();
    expect_error([&] { n.set_label("late"); }, PEKO_ERR_STATE, "label after join");
}

TEST(Keys, RotationWithoutARemoval) {
    std::vector<peko::Node> nodes;
    for (int i = 0; i < 3; i++) {
        nodes.push_back(joined("r" + std::to_string(i), "", keyed_config("old")));
        if (i > 0) nodes.back().set(peko::Member(kLoopback, nodes[0].local_port()));
    }
    ASSERT_TRUE(eventually([&] {
        for (peko::Node& n : nodes)
            if (n.stats().members_alive != 3) return false;
        return true;
    }));
    EXPECT_EQ(nodes[0].encryption(), peko::Encryption::Require);
    // Each step one member at a time, more than the timeout (2 s, 20 rounds) apart.
    for (peko::Node& n : nodes) {
        n.key_install("new");
        run_rounds(nodes, 22, "install");
    }
    for (peko::Node& n : nodes) {
        n.key_use("new");
        run_rounds(nodes, 22, "use");
    }
    for (peko::Node& n : nodes) {
        n.key_remove("old");
        run_rounds(nodes, 22, "remove");
    }
    for (peko::Node& n : nodes) EXPECT_EQ(n.key_list(), std::vector<std::string>{peko::key_id("new")});
}

TEST(Keys, OtherLabelsStayApart) {
    peko::Node a(loopback_config(), peko::Member(kLoopback, 0, "a"));
    peko::Node b(loopback_config(), peko::Member(kLoopback, 0, "b"));
    a.set_label("blue");
    b.set_label("green");
    a.join();
    b.join();
    b.set(peko::Member(kLoopback, a.local_port()));
    EXPECT_TRUE(eventually([&] { return a.stats().dropped_label > 0; }))
        << "a dropped none of b's frames";
    EXPECT_EQ(a.get().size(), 1u);
}

// ---- the Go pekonode compatibility mode ------------------------------------------------------

namespace {

// Our own key: compat packets carry its MD5, so other programs' compat members on this machine
// are ignored rather than merged into our lists.
peko::Config compat_config() {
    peko::Config cfg = keyed_config("cpp-tests compat key");
    cfg.timeout = 1s;
    return cfg;
}

}  // namespace

TEST(Compat, ChosenBeforeJoinOnly) {
    peko::Node n(compat_config(), peko::Member(kLoopback, 0, "compat"));
    EXPECT_EQ(n.compat(), peko::Compat::Native);
    n.set_compat(peko::Compat::GoPekonode);
    EXPECT_EQ(n.compat(), peko::Compat::GoPekonode);
    n.set_compat(peko::Compat::Native);
    EXPECT_EQ(n.compat(), peko::Compat::Native);
    n.key_install("second");  // natively: so key_remove("second") would be allowed
    n.set_compat(peko::Compat::GoPekonode);
    expect_error([&] { n.set_compat(static_cast<peko::Compat>(2)); }, PEKO_ERR_INVALID_ARG,
                 "compat mode 2");
    EXPECT_EQ(n.compat(), peko::Compat::GoPekonode) << "an invalid mode changed it";

    // What only the native protocol has is a state error, even with arguments it would take.
    expect_error([&] { n.key_install("third"); }, PEKO_ERR_STATE, "key_install in compat");
    expect_error([&] { n.key_use("second"); }, PEKO_ERR_STATE, "key_use in compat");
    expect_error([&] { n.key_remove("second"); }, PEKO_ERR_STATE, "key_remove in compat");
    expect_error([&] { n.set_encryption(peko::Encryption::Accept); }, PEKO_ERR_STATE,
                 "set_encryption in compat");
    expect_error([&] { n.set_label("blue"); }, PEKO_ERR_STATE, "set_label in compat");
    EXPECT_EQ(n.key_list().size(), 2u);

    n.join();
    expect_error([&] { n.set_compat(peko::Compat::Native); }, PEKO_ERR_STATE,
                 "set_compat after join");
    expect_error([&] { n.set_compat(peko::Compat::GoPekonode); }, PEKO_ERR_STATE,
                 "set_compat after join, same mode");
    EXPECT_EQ(n.compat(), peko::Compat::GoPekonode);

    peko::Node moved(std::move(n));
    expect_error([&] { n.set_compat(peko::Compat::Native); }, PEKO_ERR_NULL_ARG,
                 "set_compat on a moved-from Node");
    expect_error([&] { (void)n.compat(); }, PEKO_ERR_NULL_ARG, "compat on a moved-from Node");
}

// Two members in the compat mode (the end of a migration): they list each other with names and
// private data, and metadata published on either reaches the other.
TEST(Compat, TwoMembersConvergeWithMetadata) {
    peko::Node a(compat_config(), peko::Member(kLoopback, 0, "alpha", "alpha-data"));
    peko::Node b(compat_config(), peko::Member(kLoopback, 0, "beta", "beta-data"));
    a.set_compat(peko::Compat::GoPekonode);
    b.set_compat(peko::Compat::GoPekonode);
    a.join();
    const std::uint16_t pa = a.local_port();
    b.set(peko::Member(kLoopback, pa));
    b.join();
    const std::uint16_t pb = b.local_port();
    ASSERT_TRUE(pa != 0 && pb != 0 && pa != pb);

    auto lists = [&](const peko::Node& n, const peko::Member& want) {
        std::vector<peko::Member> list = n.get();
        std::optional<peko::Member> got = find(list, want.port);
        return list.size() == 2 && got && *got == want;
    };
    const peko::Member alpha(kLoopback, pa, "alpha", "alpha-data");
    const peko::Member beta(kLoopback, pb, "beta", "beta-data");
    ASSERT_TRUE(eventually([&] { return lists(a, beta) && lists(b, alpha); }))
        << "no convergence:\n  alpha:" << describe(a.get()) << "\n  beta:" << describe(b.get());

    a.publish("from alpha");
    EXPECT_TRUE(eventually([&] { return b.read_string() == "from alpha"; }))
        << "beta read \"" << b.read_string() << "\"";
    b.publish("from beta");
    EXPECT_TRUE(eventually([&] { return a.read_string() == "from beta"; }))
        << "alpha read \"" << a.read_string() << "\"";
}
