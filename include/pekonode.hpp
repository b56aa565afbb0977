// pekonode.hpp: a header-only C++17 RAII wrapper over the pekonode C API (pekonode.h).
//
//   #include "pekonode.hpp"
//
//   peko::Config cfg;
//   cfg.listen_addr = "127.0.0.1";
//   peko::Node node(cfg, {"127.0.0.1", 0, "web-1", "role=web"});
//   node.set({"127.0.0.1", 7947});           // a member we know of
//   node.join();                             // binds UDP+TCP before returning
//   node.publish("v1");
//   for (const peko::Member& m : node.get()) std::cout << m.addr << ':' << m.port << '\n';
//   if (auto ev = node.next_event(std::chrono::seconds(1))) { ... }
//
// Link: target/release/libpekonode.a -lpthread -ldl -lm (or -lpekonode).
//
// Errors: every failing C call throws peko::Error (a std::runtime_error) carrying the
// peko_status (status()) and this thread's peko_last_error message (message()), fetched on the
// calling thread right after the failing call. Argument problems the wrapper itself catches
// (a NUL byte inside a string, a duration out of range, a moved-from Node) throw peko::Error
// with PEKO_ERR_INVALID_ARG or PEKO_ERR_NULL_ARG. Timeouts are not exceptions:
// next_event returns std::nullopt and leave returns false.
//
// Ownership and threads: peko::Node owns one peko_node handle and frees it (peko_free: leaves
// the cluster, closes the sockets) in its destructor, which never throws. It is move-only; a
// moved-from Node holds no handle: destroying or assigning to it is safe, any other call throws
// peko::Error(PEKO_ERR_NULL_ARG). Like the C API, the member functions may be called from any
// thread, concurrently on the same Node; destruction and move must not race with other calls.
// Every value returned (members, events, metadata) is an owned copy: the C arrays and event
// strings are freed before the call returns, even when it throws.

#ifndef PEKONODE_HPP
#define PEKONODE_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "pekonode.h"

namespace peko {

static_assert(std::is_same_v<peko_status, std::uint32_t>, "peko_status is a uint32_t");

// ---- errors ------------------------------------------------------------------------------

// A failed pekonode call. status() is the peko_status (PEKO_ERR_*), message() the library's
// message for it (peko_last_error, or the wrapper's own), what() "<call>: <message>".
class Error : public std::runtime_error {
public:
    Error(peko_status status, const std::string& call, const std::string& message)
        : std::runtime_error(call.empty() ? message : call + ": " + message),
          status_(status),
          message_(message) {}

    peko_status status() const noexcept { return status_; }
    // The message alone (without the call name).
    const std::string& message() const noexcept { return message_; }
    // A static name for status() (peko_status_str).
    const char* status_str() const noexcept { return ::peko_status_str(status_); }

private:
    peko_status status_;
    std::string message_;
};

// The static, human-readable name of a status code.
inline const char* status_str(peko_status status) noexcept { return ::peko_status_str(status); }

// The library version, e.g. "0.1.0".
inline std::string version() { return ::peko_version(); }

namespace detail {

// This thread's last error message; must run right after the failing call, on its thread.
inline std::string last_error(peko_status status) {
    std::size_t len = ::peko_last_error(nullptr, 0);
    if (len == 0) return ::peko_status_str(status);
    std::string msg(len + 1, '\0');
    std::size_t got = ::peko_last_error(&msg[0], msg.size());
    msg.resize(got < len ? got : len);
    return msg;
}

[[noreturn]] inline void raise(peko_status status, const char* call) {
    // Fetch the message before anything else can touch this thread's error slot.
    std::string msg = last_error(status);
    throw Error(status, call, msg);
}

inline void check(peko_status status, const char* call) {
    if (status != PEKO_OK) raise(status, call);
}

// A std::string safe to hand to C as a NUL-terminated string.
inline const std::string& c_string(const std::string& s, const char* what, const char* call) {
    if (s.find('\0') != std::string::npos)
        throw Error(PEKO_ERR_INVALID_ARG, call, std::string(what) + " contains a NUL byte");
    return s;
}

// Milliseconds as the C API's uint32_t: out of range throws for configuration fields.
inline std::uint32_t config_ms(std::chrono::milliseconds ms, const char* what) {
    if (ms.count() < 0 || static_cast<unsigned long long>(ms.count()) >
                              std::numeric_limits<std::uint32_t>::max())
        throw Error(PEKO_ERR_INVALID_ARG, "peko::Node", std::string(what) +
                                                            " is out of range (" +
                                                            std::to_string(ms.count()) + " ms)");
    return static_cast<std::uint32_t>(ms.count());
}

// Milliseconds for a wait: negative is 0, too long is the longest wait the C API takes.
inline std::uint32_t wait_ms(std::chrono::milliseconds ms) noexcept {
    if (ms.count() <= 0) return 0;
    if (static_cast<unsigned long long>(ms.count()) > std::numeric_limits<std::uint32_t>::max())
        return std::numeric_limits<std::uint32_t>::max();
    return static_cast<std::uint32_t>(ms.count());
}

inline std::string str_or_empty(const char* s) { return s != nullptr ? std::string(s) : std::string(); }

}  // namespace detail

// ---- values ------------------------------------------------------------------------------

// Transport for Config::protocol.
enum class Protocol : std::uint32_t {
    Udp = PEKO_PROTOCOL_UDP,  // gossip and probes over UDP, TCP for anything larger
    Tcp = PEKO_PROTOCOL_TCP,  // everything over kept-open TCP connections
};

// Configuration for a Node. Every unset field keeps the C default (peko_config_default):
// amount 3, cycle 500 ms, buffer 256, size 16384, timeout 5000 ms or 10 cycles when that is
// longer (README, "Configuration": the rule every binding shares), no key, UDP, wildcard
// listen address, no console log. See pekonode.h for each field's range.
struct Config {
    std::optional<std::uint32_t> amount;               // gossip fan-out, 1..64
    std::optional<std::chrono::milliseconds> cycle;    // gossip round period, 10 ms..1 h
    std::optional<std::uint32_t> buffer;               // send queue / UDP receive depth
    std::optional<std::uint32_t> size;                 // largest metadata in bytes
    std::optional<std::chrono::milliseconds> timeout;  // silent member dropped within this
    std::optional<std::string> secret_key;             // shared secret; unset or "" = none
    Protocol protocol = Protocol::Udp;
    std::optional<std::string> listen_addr;            // unset = wildcard of the member's family
    bool print = false;                                // timestamped console log
};

// A cluster member: the local one, a known one for set(), or one from get() / an event.
struct Member {
    std::string addr;  // IPv4 or IPv6 literal
    std::uint16_t port = 0;
    std::string name;
    std::string private_data;

    Member() = default;
    Member(std::string addr_, std::uint16_t port_, std::string name_ = std::string(),
           std::string private_data_ = std::string())
        : addr(std::move(addr_)),
          port(port_),
          name(std::move(name_)),
          private_data(std::move(private_data_)) {}

    friend bool operator==(const Member& a, const Member& b) {
        return a.addr == b.addr && a.port == b.port && a.name == b.name &&
               a.private_data == b.private_data;
    }
    friend bool operator!=(const Member& a, const Member& b) { return !(a == b); }
};

enum class EventKind : std::uint32_t {
    Joined = PEKO_EVENT_JOINED,      // a member joined (or came back)
    Left = PEKO_EVENT_LEFT,          // a member left gracefully
    Failed = PEKO_EVENT_FAILED,      // a member failed
    Updated = PEKO_EVENT_UPDATED,    // a member changed its name or private data
    Metadata = PEKO_EVENT_METADATA,  // the cluster metadata changed; member = the publisher
};

inline const char* to_string(EventKind kind) noexcept {
    switch (kind) {
        case EventKind::Joined: return "joined";
        case EventKind::Left: return "left";
        case EventKind::Failed: return "failed";
        case EventKind::Updated: return "updated";
        case EventKind::Metadata: return "metadata";
    }
    return "unknown";
}

struct Event {
    EventKind kind = EventKind::Joined;
    Member member;          // name and private data are set for Joined and Updated only
    std::uint64_t lost = 0;  // events dropped (queue full) since the previous one delivered
};

// Counters from Node::stats(): the fields of peko_stats_t, then those read with peko_counter
// (PEKO_COUNTER_*, documented in pekonode.h). Each is read at its own moment: not one snapshot.
struct Stats {
    std::uint64_t members_alive = 0;    // members listed as alive, the local one included
    std::uint64_t members_suspect = 0;  // members currently suspected (still listed)
    std::uint64_t packets_sent = 0;     // datagrams and TCP frames sent
    std::uint64_t bytes_sent = 0;
    std::uint64_t packets_received = 0;  // datagrams and TCP frames received
    std::uint64_t bytes_received = 0;
    std::uint64_t dropped_auth = 0;            // dropped: not sealed under a key we hold
    std::uint64_t dropped_malformed = 0;       // dropped: garbage, truncated or oversized
    std::uint64_t dropped_queue_full = 0;      // dropped: a send queue was full
    std::uint64_t anti_entropy_exchanges = 0;  // digests, offers and push-pulls sent
    std::uint64_t round = 0;                   // gossip rounds run since join()
    // peko_counter only:
    std::uint64_t dropped_too_large = 0;    // part of dropped_malformed
    std::uint64_t send_errors = 0;          // sends, TCP connects and writes that failed
    std::uint64_t connections_refused = 0;  // inbound TCP connections refused (too many open)
    std::uint64_t members_refused = 0;      // members not added: the member table was full
    std::uint64_t events_lost = 0;          // events that never reached next_event()
    std::uint64_t rumors_dropped = 0;       // rumors dropped from a full rumor queue
    std::uint64_t relays_refused = 0;       // indirect probe requests refused (too many pending)
    std::uint64_t udp_datagrams_sent = 0;   // the UDP part of packets_sent
    std::uint64_t udp_bytes_sent = 0;       // the UDP part of bytes_sent
    std::uint64_t tcp_frames_sent = 0;      // the TCP part of packets_sent
    std::uint64_t tcp_bytes_sent = 0;       // the TCP part of bytes_sent
    std::uint64_t udp_datagrams_received = 0;   // the UDP part of packets_received
    std::uint64_t tcp_frames_received = 0;      // the TCP part of packets_received
    std::uint64_t anti_entropy_bytes_sent = 0;  // digests, offers and push-pulls, in bytes
    std::uint64_t connections_evicted = 0;      // inbound TCP connections closed to make room
    std::uint64_t incarnations_implausible = 0;  // news ignored: incarnation over 2^20 ahead
    std::uint64_t clocks_implausible = 0;        // metadata refused: clock over 60 s ahead
    std::uint64_t introductions_refused = 0;     // new members not added: introduction limits
    std::uint64_t announces_ignored = 0;         // metadata announces from unverified senders
    std::uint64_t dropped_replay = 0;  // sealed frames sent further from our clock than the window
    std::uint64_t dropped_label = 0;   // frames of another cluster label (or none)
};

// How a member treats plain frames (peko_encryption_set): the three steps of switching a
// running cluster to keys, each on every member before the next.
enum class Encryption : std::uint32_t {
    Accept = PEKO_ENCRYPTION_ACCEPT,    // sends plain, accepts plain and sealed (no key yet)
    Send = PEKO_ENCRYPTION_SEND,        // sends sealed, still accepts plain
    Require = PEKO_ENCRYPTION_REQUIRE,  // accepts only sealed (a configured secret_key)
};

// The protocol a Node speaks (peko_compat_set), chosen before join().
enum class Compat : std::uint32_t {
    Native = PEKO_COMPAT_NATIVE,  // pekonode's own protocol (the default)
    // The JSON packets of the Go library github.com/dpwgc/pekonode, to join a cluster of Go
    // nodes and replace them one at a time; plain JSON carrying the key's MD5 in clear. In this
    // mode key_install/key_use/key_remove, set_encryption and set_label throw PEKO_ERR_STATE,
    // and leave() only goes silent. Members in this mode also form a cluster among themselves.
    GoPekonode = PEKO_COMPAT_GO_PEKONODE,
};

// peko_key_id: the id Node::key_list() gives `key` (16 hex digits derived from it).
inline std::string key_id(const std::string& key) {
    static const char call[] = "peko_key_id";
    char buf[PEKO_KEY_ID_LEN + 1];
    detail::check(::peko_key_id(detail::c_string(key, "key", call).c_str(), buf, sizeof buf),
                  call);
    return std::string(buf);
}

// ---- the node ----------------------------------------------------------------------------

class Node {
public:
    // peko_new: creates the local member; nothing is bound until join().
    Node(const Config& config, const Member& local) {
        static const char call[] = "peko_new";
        peko_config c;
        ::peko_config_default(&c);
        if (config.amount) c.amount = *config.amount;
        if (config.cycle) c.cycle_ms = detail::config_ms(*config.cycle, "cycle");
        if (config.buffer) c.buffer = *config.buffer;
        if (config.size) c.size = *config.size;
        if (config.timeout) c.timeout_ms = detail::config_ms(*config.timeout, "timeout");
        if (config.secret_key)
            c.secret_key = detail::c_string(*config.secret_key, "secret_key", call).c_str();
        c.protocol = static_cast<std::uint32_t>(config.protocol);
        if (config.listen_addr)
            c.listen_addr = detail::c_string(*config.listen_addr, "listen_addr", call).c_str();
        c.is_print = config.print;

        peko_node_info info = to_c(local, call);
        peko_node* out = nullptr;
        detail::check(::peko_new(&c, &info, &out), call);
        handle_ = out;
    }

    ~Node() { ::peko_free(handle_); }  // C function: never throws

    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    Node(Node&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}

    // Frees the handle this Node held (leaving its cluster), then takes other's.
    Node& operator=(Node&& other) noexcept {
        if (this != &other) {
            ::peko_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }

    // False once moved from.
    bool valid() const noexcept { return handle_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }

    // The C handle, for calls the wrapper does not cover. Still owned by this Node.
    peko_node* native_handle() const noexcept { return handle_; }

    // peko_set: adds a known member (before or after join).
    void set(const Member& peer) {
        static const char call[] = "peko_set";
        peko_node_info info = to_c(peer, call);
        detail::check(::peko_set(h(call), &info), call);
    }

    // peko_join: binds UDP and TCP, starts the background work. A second call throws
    // (PEKO_ERR_STATE); a port in use throws PEKO_ERR_IO.
    void join() { detail::check(::peko_join(h("peko_join")), "peko_join"); }

    // peko_get: the local member first, then every member believed alive.
    std::vector<Member> get() const {
        static const char call[] = "peko_get";
        peko_node_info* nodes = nullptr;
        std::size_t count = 0;
        detail::check(::peko_get(h(call), &nodes, &count), call);
        struct Guard {
            peko_node_info* nodes;
            std::size_t count;
            ~Guard() { ::peko_nodes_free(nodes, count); }
        } guard{nodes, count};
        std::vector<Member> out;
        out.reserve(count);
        for (std::size_t i = 0; i < count; ++i)
            out.emplace_back(detail::str_or_empty(nodes[i].addr), nodes[i].port,
                             detail::str_or_empty(nodes[i].name),
                             detail::str_or_empty(nodes[i].private_data));
        return out;
    }

    // peko_publish: replaces the cluster metadata (any bytes, NULs included). More than the
    // configured size throws PEKO_ERR_TOO_LARGE.
    void publish(const std::uint8_t* data, std::size_t len) {
        static const char call[] = "peko_publish";
        detail::check(::peko_publish(h(call), data, len), call);
    }
    void publish(const std::vector<std::uint8_t>& data) { publish(data.data(), data.size()); }
    void publish(std::string_view data) {
        publish(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    }

    // peko_read (two calls): the local copy of the cluster metadata; empty if never published.
    std::vector<std::uint8_t> read() const {
        static const char call[] = "peko_read";
        peko_node* node = h(call);
        std::vector<std::uint8_t> buf;
        std::size_t len = 0;
        for (;;) {
            peko_status st = ::peko_read(node, buf.empty() ? nullptr : buf.data(), buf.size(), &len);
            if (st == PEKO_OK) {
                buf.resize(len);
                return buf;
            }
            if (st != PEKO_ERR_BUFFER_TOO_SMALL) detail::raise(st, call);
            // A publish may land between the calls and grow the data: ask again with its size.
            buf.assign(len > 0 ? len : 1, 0);
        }
    }

    // read() as a std::string (the bytes unchanged).
    std::string read_string() const {
        std::vector<std::uint8_t> bytes = read();
        return std::string(bytes.begin(), bytes.end());
    }

    // peko_stop: goes silent (PEKO_ERR_STATE before join).
    void stop() { detail::check(::peko_stop(h("peko_stop")), "peko_stop"); }

    // peko_start: resumes after stop (a no-op on a running member; PEKO_ERR_STATE before join).
    void start() { detail::check(::peko_start(h("peko_start")), "peko_start"); }

    // peko_leave: tells the others and waits up to `timeout` for the notices to be sent.
    // Returns false when some were still queued then (PEKO_ERR_TIMEOUT); other errors throw.
    // The member is silent afterwards; a second leave does nothing.
    bool leave(std::chrono::milliseconds timeout = std::chrono::seconds(1)) {
        static const char call[] = "peko_leave";
        peko_status st = ::peko_leave(h(call), detail::wait_ms(timeout));
        if (st == PEKO_ERR_TIMEOUT) return false;
        detail::check(st, call);
        return true;
    }

    // peko_update: changes the local member's name and private data.
    void update(const std::string& name, const std::string& private_data) {
        static const char call[] = "peko_update";
        detail::check(::peko_update(h(call), detail::c_string(name, "name", call).c_str(),
                                    detail::c_string(private_data, "private_data", call).c_str()),
                      call);
    }

    // peko_stats, then peko_counter for the counters peko_stats_t does not have.
    Stats stats() const {
        static const char call[] = "peko_stats";
        peko_stats_t c{};
        detail::check(::peko_stats(h(call), &c), call);
        Stats s;
        s.members_alive = c.members_alive;
        s.members_suspect = c.members_suspect;
        s.packets_sent = c.packets_sent;
        s.bytes_sent = c.bytes_sent;
        s.packets_received = c.packets_received;
        s.bytes_received = c.bytes_received;
        s.dropped_auth = c.dropped_auth;
        s.dropped_malformed = c.dropped_malformed;
        s.dropped_queue_full = c.dropped_queue_full;
        s.anti_entropy_exchanges = c.anti_entropy_exchanges;
        s.round = c.round;
        const std::pair<std::uint32_t, std::uint64_t Stats::*> more[] = {
            {PEKO_COUNTER_DROPPED_TOO_LARGE, &Stats::dropped_too_large},
            {PEKO_COUNTER_SEND_ERRORS, &Stats::send_errors},
            {PEKO_COUNTER_CONNECTIONS_REFUSED, &Stats::connections_refused},
            {PEKO_COUNTER_MEMBERS_REFUSED, &Stats::members_refused},
            {PEKO_COUNTER_EVENTS_LOST, &Stats::events_lost},
            {PEKO_COUNTER_RUMORS_DROPPED, &Stats::rumors_dropped},
            {PEKO_COUNTER_RELAYS_REFUSED, &Stats::relays_refused},
            {PEKO_COUNTER_UDP_DATAGRAMS_SENT, &Stats::udp_datagrams_sent},
            {PEKO_COUNTER_UDP_BYTES_SENT, &Stats::udp_bytes_sent},
            {PEKO_COUNTER_TCP_FRAMES_SENT, &Stats::tcp_frames_sent},
            {PEKO_COUNTER_TCP_BYTES_SENT, &Stats::tcp_bytes_sent},
            {PEKO_COUNTER_UDP_DATAGRAMS_RECEIVED, &Stats::udp_datagrams_received},
            {PEKO_COUNTER_TCP_FRAMES_RECEIVED, &Stats::tcp_frames_received},
            {PEKO_COUNTER_ANTI_ENTROPY_BYTES_SENT, &Stats::anti_entropy_bytes_sent},
            {PEKO_COUNTER_CONNECTIONS_EVICTED, &Stats::connections_evicted},
            {PEKO_COUNTER_INCARNATIONS_IMPLAUSIBLE, &Stats::incarnations_implausible},
            {PEKO_COUNTER_CLOCKS_IMPLAUSIBLE, &Stats::clocks_implausible},
            {PEKO_COUNTER_INTRODUCTIONS_REFUSED, &Stats::introductions_refused},
            {PEKO_COUNTER_ANNOUNCES_IGNORED, &Stats::announces_ignored},
            {PEKO_COUNTER_DROPPED_REPLAY, &Stats::dropped_replay},
            {PEKO_COUNTER_DROPPED_LABEL, &Stats::dropped_label},
        };
        for (const auto& m : more) s.*(m.second) = counter(m.first);
        return s;
    }

    // peko_counter: one counter by its PEKO_COUNTER_* id; an unknown id throws
    // peko::Error(PEKO_ERR_INVALID_ARG).
    std::uint64_t counter(std::uint32_t id) const {
        static const char call[] = "peko_counter";
        std::uint64_t v = 0;
        detail::check(::peko_counter(h(call), id, &v), call);
        return v;
    }

    // peko_key_install: adds `key` to the keyring (frames sealed with it open from now on). The
    // first key of a member without one is its primary, but the member keeps sending plain
    // frames (Encryption::Accept) until set_encryption(). A full keyring throws PEKO_ERR_STATE.
    void key_install(const std::string& key) {
        static const char call[] = "peko_key_install";
        detail::check(::peko_key_install(h(call), detail::c_string(key, "key", call).c_str()),
                      call);
    }

    // peko_key_use: the installed `key` becomes the primary, which seals what this member sends.
    void key_use(const std::string& key) {
        static const char call[] = "peko_key_use";
        detail::check(::peko_key_use(h(call), detail::c_string(key, "key", call).c_str()), call);
    }

    // peko_key_remove: removes the installed `key`; the primary throws PEKO_ERR_STATE.
    void key_remove(const std::string& key) {
        static const char call[] = "peko_key_remove";
        detail::check(::peko_key_remove(h(call), detail::c_string(key, "key", call).c_str()),
                      call);
    }

    // peko_key_list: the installed keys' ids (peko::key_id), the primary first.
    std::vector<std::string> key_list() const {
        static const char call[] = "peko_key_list";
        std::size_t need = 0;
        peko_status st = ::peko_key_list(h(call), nullptr, 0, &need);
        for (int tries = 0; st == PEKO_ERR_BUFFER_TOO_SMALL && tries < 64; tries++) {
            std::string buf(need, '\0');
            st = ::peko_key_list(h(call), &buf[0], buf.size(), &need);
            if (st == PEKO_OK) {
                std::vector<std::string> ids;
                std::size_t at = 0;
                for (std::size_t nl; (nl = buf.find('\n', at)) != std::string::npos; at = nl + 1)
                    ids.push_back(buf.substr(at, nl - at));
                return ids;
            }
        }
        detail::check(st, call);
        return {};
    }

    // peko_encryption_set: Send and Require without a key throw PEKO_ERR_STATE.
    void set_encryption(Encryption mode) {
        static const char call[] = "peko_encryption_set";
        detail::check(::peko_encryption_set(h(call), static_cast<std::uint32_t>(mode)), call);
    }

    // peko_encryption_get.
    Encryption encryption() const {
        static const char call[] = "peko_encryption_get";
        std::uint32_t mode = 0;
        detail::check(::peko_encryption_get(h(call), &mode), call);
        return static_cast<Encryption>(mode);
    }

    // peko_label_set: the cluster label, before join() (PEKO_ERR_STATE after); "" for none.
    void set_label(const std::string& label) {
        static const char call[] = "peko_label_set";
        detail::check(::peko_label_set(h(call), detail::c_string(label, "label", call).c_str()),
                      call);
    }

    // peko_compat_set: the protocol, before join() (PEKO_ERR_STATE after); a value that is
    // not a Compat enumerator throws PEKO_ERR_INVALID_ARG.
    void set_compat(Compat mode) {
        static const char call[] = "peko_compat_set";
        detail::check(::peko_compat_set(h(call), static_cast<std::uint32_t>(mode)), call);
    }

    // peko_compat_get.
    Compat compat() const {
        static const char call[] = "peko_compat_get";
        std::uint32_t mode = 0;
        detail::check(::peko_compat_get(h(call), &mode), call);
        return static_cast<Compat>(mode);
    }

    // peko_local_port: the bound port after join (useful with port 0), the configured one before.
    std::uint16_t local_port() const {
        static const char call[] = "peko_local_port";
        std::uint16_t port = 0;
        detail::check(::peko_local_port(h(call), &port), call);
        return port;
    }

    // peko_next_event: waits up to `timeout` (0 = do not wait); std::nullopt when none came.
    std::optional<Event> next_event(std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
        static const char call[] = "peko_next_event";
        peko_event ev{};
        peko_status st = ::peko_next_event(h(call), detail::wait_ms(timeout), &ev);
        if (st == PEKO_ERR_TIMEOUT) return std::nullopt;
        detail::check(st, call);
        struct Guard {
            peko_event* ev;
            ~Guard() { ::peko_event_clear(ev); }
        } guard{&ev};
        Event out;
        out.kind = static_cast<EventKind>(ev.kind);
        out.member = Member(detail::str_or_empty(ev.member.addr), ev.member.port,
                            detail::str_or_empty(ev.member.name),
                            detail::str_or_empty(ev.member.private_data));
        out.lost = ev.lost;
        return out;
    }

    // peko_event_fd: readable while events are pending (poll/epoll); drain with next_event().
    // Owned by the node: never read, write or close it.
    int event_fd() const {
        static const char call[] = "peko_event_fd";
        int fd = ::peko_event_fd(h(call));
        if (fd < 0) detail::raise(PEKO_ERR_IO, call);
        return fd;
    }

private:
    peko_node* h(const char* call) const {
        if (handle_ == nullptr)
            throw Error(PEKO_ERR_NULL_ARG, call, "peko::Node has no handle (moved from)");
        return handle_;
    }

    // A view of `m` for the C API; valid while `m` lives.
    static peko_node_info to_c(const Member& m, const char* call) {
        peko_node_info info;
        info.addr = detail::c_string(m.addr, "addr", call).c_str();
        info.port = m.port;
        info.name = detail::c_string(m.name, "name", call).c_str();
        info.private_data = detail::c_string(m.private_data, "private_data", call).c_str();
        return info;
    }

    peko_node* handle_ = nullptr;
};

static_assert(std::is_nothrow_move_constructible_v<Node>, "Node moves without throwing");
static_assert(std::is_nothrow_move_assignable_v<Node>, "Node move-assigns without throwing");
static_assert(!std::is_copy_constructible_v<Node>, "Node is move-only");

}  // namespace peko

#endif  // PEKONODE_HPP
