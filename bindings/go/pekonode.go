// Package pekonode is a Go binding, through cgo, of the pekonode C library: gossip
// membership (SWIM-style failure detection) and cluster-wide metadata.
//
// A Node is one cluster member. Create it with New, tell it about a few known members with
// Set, then Join. Get lists the live members, Publish and Read share a byte string across the
// cluster, and Events delivers membership and metadata changes on a channel. Close leaves the
// cluster and frees the member; it must be called (a finalizer is only a safety net).
//
// The package links the static library target/release/libpekonode.a of the repository, built
// with `make lib` in the checkout; programs need no LD_LIBRARY_PATH. cgo must be on
// (CGO_ENABLED=1, the default where a C compiler is installed). Another module uses the
// package through a replace directive pointing at the checkout's bindings/go.
//
// `make lib` also writes zz_library.go (not in git): the library's version and the sha256 of
// the archive. go build tracks the package's Go files, not the archive named in the cgo
// flags; that generated file is what makes go build (and go run, go test) relink after the
// library changed. So rebuild the library with `make lib`, never a bare `cargo build
// --release`. Without the file the package does not compile ("undefined: runMakeLibFirst",
// see library.go). LibraryBuild returns what the file recorded.
//
// Every method may be called from any goroutine, concurrently. Close waits for calls in
// progress to return, and every call after Close returns an error matching ErrClosed.
package pekonode

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libpekonode.a -lpthread -ldl -lm
#include <stdlib.h>
#include "pekonode.h"
*/
import "C"

import (
	"context"
	"math"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Protocol selects the transport (peko_config.protocol).
type Protocol uint32

const (
	// ProtocolUDP gossips and probes over UDP datagrams and uses TCP for anything larger.
	// It is the default.
	ProtocolUDP Protocol = C.PEKO_PROTOCOL_UDP
	// ProtocolTCP sends everything over kept-open TCP connections.
	ProtocolTCP Protocol = C.PEKO_PROTOCOL_TCP
)

func (p Protocol) String() string {
	switch p {
	case ProtocolUDP:
		return "udp"
	case ProtocolTCP:
		return "tcp"
	}
	return "Protocol(" + strconv.FormatUint(uint64(p), 10) + ")"
}

// Config mirrors peko_config. The zero value of every field means the library's default, as a
// zero does in C (it is passed on as 0): amount 3, cycle 500ms, buffer 256, size 16384, no
// secret key, UDP, listening on the wildcard address of the local member's family, no console
// log; a zero Timeout is the C library's rule for timeout_ms 0 (5s, or 10 x Cycle when that is
// longer), the same in every language. The README's table "Configuration (peko_config)" is
// where every default is documented. Durations are rounded up to whole milliseconds.
type Config struct {
	Amount     int           // members each round's gossip goes to (fan-out), at most 64
	Cycle      time.Duration // gossip round period, 10ms to 1h
	Buffer     int           // depth of each send queue and of the UDP receive buffer
	Size       int           // largest metadata in bytes, 1024 to 64 MiB
	Timeout    time.Duration // a silent member is gone from every list within this; >= 5 x Cycle
	SecretKey  string        // shared secret authenticating every packet; "" = none
	Protocol   Protocol      // ProtocolUDP (default) or ProtocolTCP
	ListenAddr string        // IP literal to bind; "" = the wildcard ("0.0.0.0" or "::")
	IsPrint    bool          // timestamped console log (calls, member news, the list when it changes)
}

// Member is a cluster member as the library sees it (peko_node_info): the local member given
// to New, a known member given to Set, or one returned by Get or carried by an Event.
type Member struct {
	Addr        string // IPv4 or IPv6 literal the others reach the member at (not a host name)
	Port        uint16 // UDP and TCP port; in New, 0 lets the OS pick one at Join (see LocalPort)
	Name        string // free-form, at most 1024 bytes
	PrivateData string // free-form, at most 1024 bytes
}

// String is the member's "addr:port" (IPv6 addresses in brackets).
func (m Member) String() string {
	return net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
}

// Stats are a node's counters: those of peko_stats_t, then those read with peko_counter
// (PEKO_COUNTER_*; the header documents each).
type Stats struct {
	MembersAlive         uint64 // members listed as alive, the local one included
	MembersSuspect       uint64 // members currently suspected (still listed)
	PacketsSent          uint64 // datagrams and TCP frames sent
	BytesSent            uint64
	PacketsReceived      uint64 // datagrams and TCP frames received
	BytesReceived        uint64
	DroppedAuth          uint64 // dropped: not sealed under a key this member holds
	DroppedMalformed     uint64 // dropped: garbage, truncated or oversized
	DroppedQueueFull     uint64 // dropped: a send queue was full
	AntiEntropyExchanges uint64 // digests, offers and push-pulls sent
	Round                uint64 // gossip rounds run since Join

	DroppedTooLarge      uint64 // dropped: larger than a packet may be (part of DroppedMalformed)
	SendErrors           uint64 // sends, TCP connects and writes that failed
	ConnectionsRefused   uint64 // inbound TCP connections refused (too many open)
	MembersRefused       uint64 // members not added: the member table was full
	EventsLost           uint64 // events that never reached Events (the library's queue was full)
	RumorsDropped        uint64 // rumors dropped from a full rumor queue (anti-entropy repairs)
	RelaysRefused        uint64 // indirect probe requests refused (too many pending)
	UDPDatagramsSent     uint64 // the UDP part of PacketsSent
	UDPBytesSent         uint64 // the UDP part of BytesSent
	TCPFramesSent        uint64 // the TCP part of PacketsSent
	TCPBytesSent         uint64 // the TCP part of BytesSent
	UDPDatagramsReceived uint64 // the UDP part of PacketsReceived
	TCPFramesReceived    uint64 // the TCP part of PacketsReceived
	AntiEntropyBytesSent uint64 // bytes of digests, offers and push-pulls handed to the send path
	ConnectionsEvicted   uint64 // inbound TCP connections closed to make room for a new one
	// News about a member ignored: its incarnation was more than 2^20 ahead of the one held.
	IncarnationsImplausible uint64
	ClocksImplausible       uint64 // metadata refused: its clock was over 60 s ahead of ours
	IntroductionsRefused    uint64 // new members not added: a message or period introduced enough
	AnnouncesIgnored        uint64 // metadata announced by datagram from an unverified sender, not fetched
	DroppedReplay           uint64 // sealed frames sent further from our clock than the replay window
	DroppedLabel            uint64 // frames of another cluster label (or none, or one when we have none)
}

// DefaultLeaveTimeout is how long Leave waits for its notices to reach the network when its
// context has no deadline.
const DefaultLeaveTimeout = 5 * time.Second

// Version is the C library's version, e.g. "0.1.0".
func Version() string { return C.GoString(C.peko_version()) }

// Node is a cluster member backed by a peko_node handle.
type Node struct {
	mu     sync.RWMutex // read-held by every call on c (and by Events), write-held by Close
	c      *C.peko_node // nil once closed
	evMu   sync.Mutex   // with mu read-held, guards events and w (Close holds mu instead)
	events chan Event   // created by the first Events call; closed by Close
	w      *watcher     // the goroutine feeding events, or nil
}

// New creates the local member; nothing is bound or sent until Join.
func New(cfg Config, local Member) (*Node, error) {
	const op = "new"
	var cc C.peko_config // zero: every field at its default
	var err error
	if cc.amount, err = u32(op, "Amount", cfg.Amount); err != nil {
		return nil, err
	}
	if cc.buffer, err = u32(op, "Buffer", cfg.Buffer); err != nil {
		return nil, err
	}
	if cc.size, err = u32(op, "Size", cfg.Size); err != nil {
		return nil, err
	}
	if cc.cycle_ms, err = millis(op, "Cycle", cfg.Cycle); err != nil {
		return nil, err
	}
	if cc.timeout_ms, err = millis(op, "Timeout", cfg.Timeout); err != nil {
		return nil, err
	}
	cc.protocol = C.uint32_t(cfg.Protocol)
	cc.is_print = C.bool(cfg.IsPrint)

	var strs cstrings
	defer strs.free()
	if cc.secret_key, err = strs.optional(op, "SecretKey", cfg.SecretKey); err != nil {
		return nil, err
	}
	if cc.listen_addr, err = strs.optional(op, "ListenAddr", cfg.ListenAddr); err != nil {
		return nil, err
	}
	info, err := strs.member(op, local)
	if err != nil {
		return nil, err
	}

	var h *C.peko_node
	runtime.LockOSThread()
	err = check(op, C.peko_new(&cc, &info, &h))
	runtime.UnlockOSThread()
	if err != nil {
		return nil, err
	}
	n := &Node{c: h}
	runtime.SetFinalizer(n, (*Node).Close)
	return n, nil
}

// with runs f with the handle while holding the read lock (so Close cannot free it meanwhile)
// on a locked OS thread (so check can fetch this call's peko_last_error).
func (n *Node) with(op string, f func(h *C.peko_node) error) error {
	if n == nil {
		return closedError(op)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.c == nil {
		return closedError(op)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := f(n.c)
	runtime.KeepAlive(n)
	return err
}

// Set adds a known member, before or after Join. It is listed at once and dropped after the
// timeout if it is never heard from (after three timeouts while no exchange has brought this
// member the cluster's table yet). A bad address or port 0 is StatusInvalidArg.
func (n *Node) Set(peer Member) error {
	const op = "set"
	var strs cstrings
	defer strs.free()
	info, err := strs.member(op, peer)
	if err != nil {
		return err
	}
	return n.with(op, func(h *C.peko_node) error {
		return check(op, C.peko_set(h, &info))
	})
}

// Join binds UDP and TCP (a port in use is StatusIO), starts the background work and syncs
// with the known members. A second Join is StatusState.
func (n *Node) Join() error {
	return n.with("join", func(h *C.peko_node) error {
		return check("join", C.peko_join(h))
	})
}

// Get returns the local member first, then every member believed alive.
func (n *Node) Get() ([]Member, error) {
	var out []Member
	err := n.with("get", func(h *C.peko_node) error {
		var list *C.peko_node_info
		var count C.size_t
		if err := check("get", C.peko_get(h, &list, &count)); err != nil {
			return err
		}
		defer C.peko_nodes_free(list, count)
		out = make([]Member, 0, int(count))
		for _, m := range unsafe.Slice(list, int(count)) {
			out = append(out, goMember(&m))
		}
		return nil
	})
	return out, err
}

// Publish replaces the cluster metadata everywhere; the newest publish wins at every member.
// The bytes are copied. More than Config.Size bytes is StatusTooLarge.
func (n *Node) Publish(data []byte) error {
	return n.with("publish", func(h *C.peko_node) error {
		var p *C.uint8_t
		if len(data) > 0 {
			p = (*C.uint8_t)(unsafe.Pointer(&data[0]))
		}
		return check("publish", C.peko_publish(h, p, C.size_t(len(data))))
	})
}

// Read returns a copy of the local member's view of the cluster metadata; empty when nothing
// was ever published.
func (n *Node) Read() ([]byte, error) {
	var out []byte
	err := n.with("read", func(h *C.peko_node) error {
		var need C.size_t
		st := C.peko_read(h, nil, 0, &need)
		for {
			switch st {
			case C.PEKO_OK:
				return nil // nothing published: length 0
			case C.PEKO_ERR_BUFFER_TOO_SMALL:
			default:
				return check("read", st)
			}
			if need == 0 {
				need = 1 // not expected with BUFFER_TOO_SMALL; keeps &buf[0] valid
			}
			buf := make([]byte, int(need))
			var got C.size_t
			st = C.peko_read(h, (*C.uint8_t)(unsafe.Pointer(&buf[0])), need, &got)
			if st == C.PEKO_OK {
				out = buf[:int(got)]
				return nil
			}
			// BUFFER_TOO_SMALL again: a larger value arrived between the calls, and
			// need holds its length now; anything else is returned by the switch.
			need = got
		}
	})
	return out, err
}

// Stop makes the member silent: no gossip and no answers to probes; the others drop it within
// the timeout. Before Join it is StatusState.
func (n *Node) Stop() error {
	return n.with("stop", func(h *C.peko_node) error {
		return check("stop", C.peko_stop(h))
	})
}

// Start resumes after Stop; on a running member it does nothing. Before Join it is
// StatusState.
func (n *Node) Start() error {
	return n.with("start", func(h *C.peko_node) error {
		return check("start", C.peko_start(h))
	})
}

// Leave tells the others this member is leaving (they drop it at once) and waits until the
// notices have been handed to the network, at most until ctx's deadline (DefaultLeaveTimeout
// without one). If the deadline passes first the error matches both StatusTimeout and
// context.DeadlineExceeded. The member is silent afterwards; Close it. A second Leave does
// nothing; before Join it is StatusState. ctx is checked before the call: a cancellation
// without a deadline does not interrupt the wait.
func (n *Node) Leave(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	timeout := DefaultLeaveTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return context.DeadlineExceeded
		}
	}
	if timeout > maxMillis {
		timeout = maxMillis
	}
	ms := ceilMillis(timeout)
	err := n.with("leave", func(h *C.peko_node) error {
		return check("leave", C.peko_leave(h, C.uint32_t(ms)))
	})
	if e, ok := err.(*Error); ok && e.Status == StatusTimeout {
		e.err = context.DeadlineExceeded
	}
	return err
}

// Update changes the local member's name and private data; every member sees an
// EventUpdated.
func (n *Node) Update(name, privateData string) error {
	const op = "update"
	var strs cstrings
	defer strs.free()
	cn, err := strs.optional(op, "name", name)
	if err != nil {
		return err
	}
	cd, err := strs.optional(op, "privateData", privateData)
	if err != nil {
		return err
	}
	return n.with(op, func(h *C.peko_node) error {
		return check(op, C.peko_update(h, cn, cd))
	})
}

// Stats returns the node's counters: peko_stats, then peko_counter for the counters
// peko_stats_t does not have (each is read at its own moment: not one snapshot).
func (n *Node) Stats() (Stats, error) {
	var s C.peko_stats_t
	var st Stats
	err := n.with("stats", func(h *C.peko_node) error {
		if err := check("stats", C.peko_stats(h, &s)); err != nil {
			return err
		}
		for _, c := range []struct {
			id  C.uint32_t
			dst *uint64
		}{
			{C.PEKO_COUNTER_DROPPED_TOO_LARGE, &st.DroppedTooLarge},
			{C.PEKO_COUNTER_SEND_ERRORS, &st.SendErrors},
			{C.PEKO_COUNTER_CONNECTIONS_REFUSED, &st.ConnectionsRefused},
			{C.PEKO_COUNTER_MEMBERS_REFUSED, &st.MembersRefused},
			{C.PEKO_COUNTER_EVENTS_LOST, &st.EventsLost},
			{C.PEKO_COUNTER_RUMORS_DROPPED, &st.RumorsDropped},
			{C.PEKO_COUNTER_RELAYS_REFUSED, &st.RelaysRefused},
			{C.PEKO_COUNTER_UDP_DATAGRAMS_SENT, &st.UDPDatagramsSent},
			{C.PEKO_COUNTER_UDP_BYTES_SENT, &st.UDPBytesSent},
			{C.PEKO_COUNTER_TCP_FRAMES_SENT, &st.TCPFramesSent},
			{C.PEKO_COUNTER_TCP_BYTES_SENT, &st.TCPBytesSent},
			{C.PEKO_COUNTER_UDP_DATAGRAMS_RECEIVED, &st.UDPDatagramsReceived},
			{C.PEKO_COUNTER_TCP_FRAMES_RECEIVED, &st.TCPFramesReceived},
			{C.PEKO_COUNTER_ANTI_ENTROPY_BYTES_SENT, &st.AntiEntropyBytesSent},
			{C.PEKO_COUNTER_CONNECTIONS_EVICTED, &st.ConnectionsEvicted},
			{C.PEKO_COUNTER_INCARNATIONS_IMPLAUSIBLE, &st.IncarnationsImplausible},
			{C.PEKO_COUNTER_CLOCKS_IMPLAUSIBLE, &st.ClocksImplausible},
			{C.PEKO_COUNTER_INTRODUCTIONS_REFUSED, &st.IntroductionsRefused},
			{C.PEKO_COUNTER_ANNOUNCES_IGNORED, &st.AnnouncesIgnored},
			{C.PEKO_COUNTER_DROPPED_REPLAY, &st.DroppedReplay},
			{C.PEKO_COUNTER_DROPPED_LABEL, &st.DroppedLabel},
		} {
			var v C.uint64_t
			if err := check("stats", C.peko_counter(h, c.id, &v)); err != nil {
				return err
			}
			*c.dst = uint64(v)
		}
		return nil
	})
	if err != nil {
		return Stats{}, err
	}
	st.MembersAlive = uint64(s.members_alive)
	st.MembersSuspect = uint64(s.members_suspect)
	st.PacketsSent = uint64(s.packets_sent)
	st.BytesSent = uint64(s.bytes_sent)
	st.PacketsReceived = uint64(s.packets_received)
	st.BytesReceived = uint64(s.bytes_received)
	st.DroppedAuth = uint64(s.dropped_auth)
	st.DroppedMalformed = uint64(s.dropped_malformed)
	st.DroppedQueueFull = uint64(s.dropped_queue_full)
	st.AntiEntropyExchanges = uint64(s.anti_entropy_exchanges)
	st.Round = uint64(s.round)
	return st, nil
}

// LocalPort is the port the member uses: after Join the one actually bound (useful with port
// 0), before it the configured one.
func (n *Node) LocalPort() (uint16, error) {
	var p C.uint16_t
	err := n.with("local port", func(h *C.peko_node) error {
		return check("local port", C.peko_local_port(h, &p))
	})
	return uint16(p), err
}

// Close leaves the cluster (telling the others), closes the sockets and frees the member. It
// waits for calls in progress, stops the Events goroutine and then closes the Events channel.
// Close is idempotent and always returns nil.
func (n *Node) Close() error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.c == nil {
		return nil
	}
	h := n.c
	n.c = nil
	runtime.SetFinalizer(n, nil)
	if n.w != nil {
		n.w.stop()
		n.w = nil
	}
	C.peko_free(h)
	if n.events != nil {
		close(n.events)
	}
	return nil
}

// --- conversions --------------------------------------------------------------------------

// cstrings collects C strings to free together.
type cstrings []*C.char

func (s *cstrings) free() {
	for _, p := range *s {
		C.free(unsafe.Pointer(p))
	}
	*s = nil
}

// optional converts v to a C string, NULL for "". A NUL byte is StatusInvalidArg.
func (s *cstrings) optional(op, field, v string) (*C.char, error) {
	if v == "" {
		return nil, nil
	}
	return s.required(op, field, v)
}

func (s *cstrings) required(op, field, v string) (*C.char, error) {
	if strings.IndexByte(v, 0) >= 0 {
		return nil, invalidArg(op, field+" contains a NUL byte")
	}
	p := C.CString(v)
	*s = append(*s, p)
	return p, nil
}

func (s *cstrings) member(op string, m Member) (C.peko_node_info, error) {
	var info C.peko_node_info
	var err error
	if info.addr, err = s.required(op, "Addr", m.Addr); err != nil {
		return info, err
	}
	if info.name, err = s.optional(op, "Name", m.Name); err != nil {
		return info, err
	}
	if info.private_data, err = s.optional(op, "PrivateData", m.PrivateData); err != nil {
		return info, err
	}
	info.port = C.uint16_t(m.Port)
	return info, nil
}

func goMember(m *C.peko_node_info) Member {
	return Member{
		Addr:        goString(m.addr),
		Port:        uint16(m.port),
		Name:        goString(m.name),
		PrivateData: goString(m.private_data),
	}
}

func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

func u32(op, field string, v int) (C.uint32_t, error) {
	if v < 0 || uint64(v) > math.MaxUint32 {
		return 0, invalidArg(op, field+" "+strconv.Itoa(v)+" is out of range")
	}
	return C.uint32_t(v), nil
}

// millis converts a duration to whole milliseconds, rounding up (so a positive duration never
// becomes 0, which would mean the default).
func millis(op, field string, d time.Duration) (C.uint32_t, error) {
	if d < 0 {
		return 0, invalidArg(op, field+" "+d.String()+" is negative")
	}
	if d > maxMillis {
		return 0, invalidArg(op, field+" "+d.String()+" is too long")
	}
	return C.uint32_t(ceilMillis(d)), nil
}

const maxMillis = time.Duration(math.MaxUint32) * time.Millisecond

// ceilMillis is d in whole milliseconds, rounded up; 0 <= d <= maxMillis.
func ceilMillis(d time.Duration) uint32 {
	return uint32((d + time.Millisecond - 1) / time.Millisecond)
}
