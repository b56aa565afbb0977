package pekonode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Every wait polls a condition up to this long; nothing sleeps for a fixed time.
const generous = 30 * time.Second

// Fast rounds so the tests are quick; everything stays on the loopback interface.
var testConfig = Config{
	Cycle:      100 * time.Millisecond,
	Timeout:    2 * time.Second,
	ListenAddr: "127.0.0.1",
}

func newNode(t *testing.T, name, data string) *Node {
	t.Helper()
	n, err := New(testConfig, Member{Addr: "127.0.0.1", Name: name, PrivateData: data})
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Join(); err != nil {
		t.Fatalf("Join(%s): %v", name, err)
	}
	return n
}

func localPort(t *testing.T, n *Node) uint16 {
	t.Helper()
	p, err := n.LocalPort()
	if err != nil || p == 0 {
		t.Fatalf("LocalPort = %d, %v", p, err)
	}
	return p
}

func seed(t *testing.T, n *Node, port uint16) {
	t.Helper()
	if err := n.Set(Member{Addr: "127.0.0.1", Port: port}); err != nil {
		t.Fatalf("Set(127.0.0.1:%d): %v", port, err)
	}
}

// eventually polls cond until it holds or the generous deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(generous)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, generous, detail)
		}
		<-tick.C
	}
}

// waitEvent reads ch until an event matches, the channel closes or the deadline passes.
func waitEvent(t *testing.T, ch <-chan Event, what string, match func(Event) bool) Event {
	t.Helper()
	timer := time.NewTimer(generous)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("waiting for %s: events channel closed; seen %v", what, seen)
			}
			if match(ev) {
				return ev
			}
			seen = append(seen, fmt.Sprintf("%s %s %q", ev.Kind, ev.Member, ev.Member.Name))
		case <-timer.C:
			t.Fatalf("waiting for %s: none within %v; seen %v", what, generous, seen)
		}
	}
}

func asError(t *testing.T, err error, want Status) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *pekonode.Error", err, err)
	}
	if e.Status != want || !errors.Is(err, want) {
		t.Fatalf("error %v: status %d (%v), want %d (%v)", err, e.Status, e.Status, want, want)
	}
	return e
}

func describe(ms []Member) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%s/%s/%s", m, m.Name, m.PrivateData))
	}
	return strings.Join(s, " ")
}

// Three members on 127.0.0.1 with OS-chosen ports: every list converges to all three, with
// names and private data, the local member first; the counters agree.
func TestClusterConverges(t *testing.T) {
	a := newNode(t, "a", "role=seed")
	b := newNode(t, "b", "role=web")
	c := newNode(t, "c", "role=db")
	pa := localPort(t, a)
	seed(t, b, pa)
	seed(t, c, pa)

	want := []string{
		fmt.Sprintf("127.0.0.1:%d/a/role=seed", pa),
		fmt.Sprintf("127.0.0.1:%d/b/role=web", localPort(t, b)),
		fmt.Sprintf("127.0.0.1:%d/c/role=db", localPort(t, c)),
	}
	sort.Strings(want) // compared with each sorted list
	for _, n := range []*Node{a, b, c} {
		self := localPort(t, n)
		eventually(t, fmt.Sprintf("member %d sees all three", self), func() (bool, string) {
			ms, err := n.Get()
			if err != nil {
				return false, err.Error()
			}
			got := make([]string, len(ms))
			for i, m := range ms {
				got[i] = fmt.Sprintf("%s/%s/%s", m, m.Name, m.PrivateData)
			}
			sort.Strings(got)
			return len(ms) > 0 && ms[0].Port == self && strings.Join(got, " ") == strings.Join(want, " "),
				describe(ms)
		})
	}
	for _, n := range []*Node{a, b, c} {
		eventually(t, "stats count three alive", func() (bool, string) {
			st, err := n.Stats()
			return err == nil && st.MembersAlive == 3 && st.Round > 0 && st.PacketsSent > 0 &&
					st.PacketsReceived > 0 && st.UDPDatagramsSent > 0 &&
					st.UDPDatagramsSent+st.TCPFramesSent >= st.PacketsSent,
				fmt.Sprintf("%+v %v", st, err)
		})
	}
}

// refusingPort holds a loopback TCP port with a socket that is bound but never listens: a
// connection to it is refused at once, and nothing else can take the port meanwhile.
func refusingPort(t *testing.T) uint16 {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(sa.(*syscall.SockaddrInet4).Port)
}

// The counters read with peko_counter reach Stats and move with their cause: an oversized TCP
// frame (DroppedTooLarge, within DroppedMalformed), refused connections (SendErrors), more
// silent members failing than the unread event queue keeps (EventsLost); TCP mode sends no
// datagram.
func TestCountersBeyondPekoStats(t *testing.T) {
	const silent = 70 // the queue keeps 64 events while nobody reads them
	cfg := testConfig
	cfg.Protocol = ProtocolTCP
	n, err := New(cfg, Member{Addr: "127.0.0.1", Name: "counted"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Join(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < silent; i++ {
		seed(t, n, refusingPort(t))
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", localPort(t, n)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte{'P', 'K', 4, 4, 0, 0xff, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	eventually(t, "the new counters move", func() (bool, string) {
		st, err := n.Stats()
		return err == nil && st.DroppedTooLarge >= 1 && st.SendErrors >= 1 &&
			st.EventsLost >= silent-64, fmt.Sprintf("%+v %v", st, err)
	})
	st, err := n.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.DroppedMalformed < st.DroppedTooLarge || st.UDPDatagramsSent != 0 ||
		st.ConnectionsRefused != 0 || st.MembersRefused != 0 {
		t.Fatalf("counters: %+v", st)
	}
}

// Publish on one member reaches every member's Read, a newer publish replaces it (also one too
// large for a datagram, which travels over TCP), and more than Config.Size is rejected.
func TestPublishRead(t *testing.T) {
	a := newNode(t, "a", "")
	b := newNode(t, "b", "")
	c := newNode(t, "c", "")
	pa := localPort(t, a)
	seed(t, b, pa)
	seed(t, c, pa)

	if data, err := a.Read(); err != nil || len(data) != 0 {
		t.Fatalf("Read before any publish = %q, %v; want empty", data, err)
	}
	all := []*Node{a, b, c}
	converge := func(want []byte) {
		for i, n := range all {
			eventually(t, fmt.Sprintf("member %d reads %d bytes", i, len(want)), func() (bool, string) {
				got, err := n.Read()
				if err != nil {
					return false, err.Error()
				}
				return bytes.Equal(got, want), fmt.Sprintf("%d bytes %.40q", len(got), got)
			})
		}
	}
	if err := b.Publish([]byte("config v1")); err != nil {
		t.Fatal(err)
	}
	converge([]byte("config v1"))

	big := bytes.Repeat([]byte("0123456789abcdef"), 600) // 9600 bytes: announced, fetched over TCP
	if err := c.Publish(big); err != nil {
		t.Fatal(err)
	}
	converge(big)

	err := a.Publish(make([]byte, 16385)) // the default Size is 16384
	asError(t, err, StatusTooLarge)

	if err := a.Publish(nil); err != nil { // an empty publish is a value too
		t.Fatal(err)
	}
	converge([]byte{})
}

// Events arrive on the channel fed from the event descriptor: joins, an update, a publish, a
// failure after Stop and the return after Start, a graceful leave.
func TestEvents(t *testing.T) {
	a := newNode(t, "a", "")
	ev := a.Events()
	if a.Events() != ev {
		t.Fatal("Events returned a different channel on the second call")
	}
	pa := localPort(t, a)
	b := newNode(t, "b", "role=web")
	c := newNode(t, "c", "role=db")
	pb, pc := localPort(t, b), localPort(t, c)
	seed(t, b, pa)
	seed(t, c, pa)

	joined := map[uint16]Member{}
	waitEvent(t, ev, "b and c joined", func(e Event) bool {
		if e.Kind == EventJoined {
			joined[e.Member.Port] = e.Member
		}
		return joined[pb].Name != "" && joined[pc].Name != ""
	})
	if m := joined[pb]; m.Addr != "127.0.0.1" || m.Name != "b" || m.PrivateData != "role=web" {
		t.Fatalf("joined event for b: %+v", m)
	}
	if m := joined[pc]; m.Name != "c" || m.PrivateData != "role=db" {
		t.Fatalf("joined event for c: %+v", m)
	}

	if err := b.Update("b-renamed", "role=api"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ev, "b updated", func(e Event) bool {
		return e.Kind == EventUpdated && e.Member.Port == pb && e.Member.Name == "b-renamed" &&
			e.Member.PrivateData == "role=api"
	})

	if err := c.Publish([]byte("from c")); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ev, "metadata from c", func(e Event) bool {
		return e.Kind == EventMetadata && e.Member.Port == pc
	})
	if got, err := a.Read(); err != nil || string(got) != "from c" {
		t.Fatalf("Read after the metadata event = %q, %v", got, err)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ev, "c failed after Stop", func(e Event) bool {
		return e.Kind == EventFailed && e.Member.Port == pc
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil { // on a running member it does nothing
		t.Fatal(err)
	}
	waitEvent(t, ev, "c back after Start", func(e Event) bool {
		return e.Kind == EventJoined && e.Member.Port == pc
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatalf("a second Leave: %v", err)
	}
	waitEvent(t, ev, "b left", func(e Event) bool {
		return e.Kind == EventLeft && e.Member.Port == pb
	})
	asError(t, b.Update("x", "y"), StatusState) // silent after leaving

	// Close ends the goroutine and closes the channel.
	a.Close()
	timer := time.NewTimer(generous)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ev:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatal("events channel not closed after Close")
		}
	}
}

// Events is fed through the runtime's poller from a duplicate of peko_event_fd, and every
// wake-up is taken: a run of changes, each awaited before the next is made, makes the
// goroutine go back to sleep on the descriptor between events (a lost wake-up would hang here).
func TestEventsThroughTheDescriptor(t *testing.T) {
	a := newNode(t, "a", "")
	ev := a.Events()
	a.evMu.Lock()
	polled := a.w != nil && a.w.file != nil
	a.evMu.Unlock()
	if !polled {
		t.Fatal("Events is not fed from the event descriptor")
	}
	b := newNode(t, "b", "")
	pb := localPort(t, b)
	seed(t, b, localPort(t, a))
	waitEvent(t, ev, "b joined", func(e Event) bool { return e.Kind == EventJoined && e.Member.Port == pb })
	for i := 0; i < 10; i++ {
		name := fmt.Sprint("b-", i)
		if err := b.Update(name, ""); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ev, name, func(e Event) bool {
			return e.Kind == EventUpdated && e.Member.Port == pb && e.Member.Name == name
		})
	}
}

// Without a pollable descriptor the channel is fed by waiting in the library instead.
func TestEventsFallback(t *testing.T) {
	testNoEventFD = true
	defer func() { testNoEventFD = false }()
	a := newNode(t, "a", "")
	ev := a.Events()
	b := newNode(t, "b", "")
	pb := localPort(t, b)
	seed(t, b, localPort(t, a))
	waitEvent(t, ev, "b joined", func(e Event) bool { return e.Kind == EventJoined && e.Member.Port == pb })
	a.Close()
	for range ev {
	}
}

// Close is idempotent (also concurrently), closes the Events channel whether or not Events
// was called before, works before Join, and a nil *Node is harmless.
func TestClose(t *testing.T) {
	n := newNode(t, "n", "")
	ch := n.Events()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := n.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
	for range ch { // buffered events (if any) then closed; Close returned, so no waiting
	}
	if n.Events() != ch {
		t.Fatal("Events after Close returned another channel")
	}

	// Events first asked for after Close: a closed channel.
	m := newNode(t, "m", "")
	m.Close()
	if _, ok := <-m.Events(); ok {
		t.Fatal("Events after Close delivered an event")
	}

	// Before Join, and the port is released at once.
	p, err := New(testConfig, Member{Addr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	var nilNode *Node
	if err := nilNode.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := nilNode.Get(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get on a nil *Node: %v", err)
	}
	if _, ok := <-nilNode.Events(); ok {
		t.Fatal("Events on a nil *Node delivered an event")
	}
}

// Misuse gives errors with the right status and the library's message, never a crash.
func TestMisuse(t *testing.T) {
	// Bad addresses and configuration.
	err := func() error { _, err := New(testConfig, Member{Addr: "not-an-ip", Port: 7946}); return err }()
	if e := asError(t, err, StatusInvalidArg); !strings.Contains(e.Msg, "not-an-ip") {
		t.Fatalf("message %q does not name the address", e.Msg)
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		local Member
	}{
		{"host name", testConfig, Member{Addr: "localhost"}},
		{"unspecified address", testConfig, Member{Addr: "0.0.0.0"}},
		{"empty address", testConfig, Member{}},
		{"NUL in name", testConfig, Member{Addr: "127.0.0.1", Name: "a\x00b"}},
		{"cycle too short", Config{Cycle: 5 * time.Millisecond}, Member{Addr: "127.0.0.1"}},
		{"negative cycle", Config{Cycle: -time.Second}, Member{Addr: "127.0.0.1"}},
		{"timeout below 5 cycles", Config{Cycle: time.Second, Timeout: time.Second}, Member{Addr: "127.0.0.1"}},
		{"negative amount", Config{Amount: -1}, Member{Addr: "127.0.0.1"}},
		{"amount above 64", Config{Amount: 65}, Member{Addr: "127.0.0.1"}},
		{"bad protocol", Config{Protocol: 7}, Member{Addr: "127.0.0.1"}},
		{"bad listen address", Config{ListenAddr: "lo"}, Member{Addr: "127.0.0.1"}},
	} {
		n, err := New(tc.cfg, tc.local)
		if err == nil {
			n.Close()
			t.Fatalf("%s: New succeeded", tc.name)
		}
		if e := asError(t, err, StatusInvalidArg); e.Msg == "" {
			t.Fatalf("%s: no message in %v", tc.name, err)
		}
	}

	// State errors before Join.
	n, err := New(testConfig, Member{Addr: "127.0.0.1", Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	asError(t, n.Stop(), StatusState)
	asError(t, n.Start(), StatusState)
	asError(t, n.Leave(context.Background()), StatusState)

	// Bad peers.
	e := asError(t, n.Set(Member{Addr: "300.1.2.3", Port: 7946}), StatusInvalidArg)
	if e.Op != "set" || e.Msg == "" || !strings.Contains(e.Msg, "300.1.2.3") {
		t.Fatalf("Set error: %+v", e)
	}
	asError(t, n.Set(Member{Addr: "127.0.0.1", Port: 0}), StatusInvalidArg)

	// Double Join.
	if err := n.Join(); err != nil {
		t.Fatal(err)
	}
	if e := asError(t, n.Join(), StatusState); e.Msg == "" || e.Op != "join" {
		t.Fatalf("second Join: %+v", e)
	}

	// A port in use.
	busy := Member{Addr: "127.0.0.1", Port: localPort(t, n)}
	o, err := New(testConfig, busy)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if e := asError(t, o.Join(), StatusIO); e.Msg == "" {
		t.Fatal("no message for a port in use")
	}

	// An expired context does not call the library.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Leave(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Leave with a cancelled context: %v", err)
	}

	// Every call after Close.
	n.Close()
	calls := map[string]error{
		"Set":     n.Set(Member{Addr: "127.0.0.1", Port: 1}),
		"Join":    n.Join(),
		"Publish": n.Publish([]byte("x")),
		"Stop":    n.Stop(),
		"Start":   n.Start(),
		"Leave":   n.Leave(context.Background()),
		"Update":  n.Update("a", "b"),
	}
	_, calls["Get"] = n.Get()
	_, calls["Read"] = n.Read()
	_, calls["Stats"] = n.Stats()
	_, calls["LocalPort"] = n.LocalPort()
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) || !errors.Is(err, StatusState) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

// peko_last_error is per OS thread: with many goroutines failing at once, each error must
// carry the message of its own call.
func TestErrorMessageBelongsToTheCall(t *testing.T) {
	n, err := New(testConfig, Member{Addr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				addr := fmt.Sprintf("bad-%d-%d", g, i)
				err := n.Set(Member{Addr: addr, Port: 1})
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(e.Msg, `"`+addr+`"`) {
					t.Errorf("Set(%s): %v", addr, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Calls racing with Close either work or report ErrClosed (run with -race).
func TestConcurrentCallsAndClose(t *testing.T) {
	a := newNode(t, "a", "")
	b := newNode(t, "b", "")
	seed(t, b, localPort(t, a))
	ev := a.Events()
	var calls atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var err error
				switch i % 4 {
				case 0:
					_, err = a.Get()
				case 1:
					_, err = a.Stats()
				case 2:
					err = a.Publish([]byte(fmt.Sprint(g, i)))
				case 3:
					_, err = a.Read()
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("call %d: %v", i%4, err)
					return
				}
				calls.Add(1)
			}
		}()
	}
	eventually(t, "calls under way", func() (bool, string) {
		return calls.Load() >= 200, fmt.Sprint(calls.Load(), " calls")
	})
	a.Close()
	wg.Wait()
	for range ev {
	}
}

// The finalizer is a safety net: a joined node that is dropped without Close is freed by the
// garbage collector, which releases its port.
func TestFinalizerFreesAForgottenNode(t *testing.T) {
	port := func() uint16 {
		n, err := New(testConfig, Member{Addr: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Join(); err != nil {
			t.Fatal(err)
		}
		return localPort(t, n) // n is dropped here, never closed
	}()
	eventually(t, "the forgotten node's port is free again", func() (bool, string) {
		runtime.GC()
		o, err := New(testConfig, Member{Addr: "127.0.0.1", Port: port})
		if err != nil {
			return false, err.Error()
		}
		defer o.Close()
		if err := o.Join(); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}
