package pekonode

/*
#include "pekonode.h"
*/
import "C"

import (
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// EventKind says what an Event reports (peko_event.kind).
type EventKind uint32

// The event kinds. The values are those of the C library's PEKO_EVENT_* constants (checked when
// the package compiles).
const (
	// EventJoined: a member joined, or came back after it had been dropped
	// (PEKO_EVENT_JOINED). Member carries its name and private data.
	EventJoined EventKind = 1
	// EventLeft: a member left gracefully, with Leave or Close (PEKO_EVENT_LEFT).
	EventLeft EventKind = 2
	// EventFailed: a member stopped answering and was dropped, or a member given to Set was
	// never heard from (PEKO_EVENT_FAILED).
	EventFailed EventKind = 3
	// EventUpdated: a member changed its name or private data with Update
	// (PEKO_EVENT_UPDATED). Member carries the new values.
	EventUpdated EventKind = 4
	// EventMetadata: the cluster metadata changed (PEKO_EVENT_METADATA). Member is the
	// publisher (Addr and Port only); call Read for the value.
	EventMetadata EventKind = 5
)

// A compile-time check that the literals above equal the C constants: an index other than 0
// into a one-element array (or a negative EventKind) does not compile.
func _() {
	var x [1]struct{}
	_ = x[EventJoined-C.PEKO_EVENT_JOINED]
	_ = x[EventLeft-C.PEKO_EVENT_LEFT]
	_ = x[EventFailed-C.PEKO_EVENT_FAILED]
	_ = x[EventUpdated-C.PEKO_EVENT_UPDATED]
	_ = x[EventMetadata-C.PEKO_EVENT_METADATA]
}

func (k EventKind) String() string {
	switch k {
	case EventJoined:
		return "joined"
	case EventLeft:
		return "left"
	case EventFailed:
		return "failed"
	case EventUpdated:
		return "updated"
	case EventMetadata:
		return "metadata"
	}
	return "EventKind(" + strconv.FormatUint(uint64(k), 10) + ")"
}

// Event is one membership or metadata change.
type Event struct {
	Kind EventKind
	// Member is the member concerned; Name and PrivateData are set for EventJoined and
	// EventUpdated. For EventMetadata it is the publisher (Addr and Port); call Read for the
	// value.
	Member Member
	// Lost counts events the library dropped (its queue holds 1024) before this one because
	// they were not consumed fast enough.
	Lost uint64
}

const (
	eventBuffer = 64 // capacity of the Events channel
	eventBatch  = 64 // most events taken from the library per wake-up
)

// Events returns the channel of this node's membership and metadata events. The first call
// starts a goroutine fed by the library's event descriptor (peko_event_fd) through Go's
// network poller: it sleeps until the descriptor is readable, then takes every pending event
// with peko_next_event(node, 0) and sends them on the channel. Every call returns the same
// channel; Close closes it after stopping the goroutine.
//
// Events that happen before the first call wait in the library's queue; when the channel is
// not drained the library keeps the newest 1024 and reports the number dropped in
// Event.Lost. While the goroutine runs it keeps the Node reachable, so the finalizer does not
// close a node whose events are being consumed: call Close.
func (n *Node) Events() <-chan Event {
	if n == nil {
		ch := make(chan Event)
		close(ch)
		return ch
	}
	// The read lock keeps Close out (and n.c valid); evMu orders concurrent first calls.
	n.mu.RLock()
	defer n.mu.RUnlock()
	n.evMu.Lock()
	defer n.evMu.Unlock()
	if n.events == nil {
		n.events = make(chan Event, eventBuffer)
		if n.c == nil {
			close(n.events)
		} else {
			n.w = n.watch(n.events)
		}
	}
	return n.events
}

// testNoEventFD makes watch use the fallback (set only by tests).
var testNoEventFD bool

// watcher is the goroutine feeding the Events channel.
type watcher struct {
	done   chan struct{} // closed by stop
	exited chan struct{} // closed by the goroutine when it returns
	file   *os.File      // our duplicate of the event descriptor; nil in the fallback mode
}

// stop ends the goroutine and waits for it; afterwards nothing uses the handle or the
// channel. The caller holds n.mu for writing.
func (w *watcher) stop() {
	close(w.done)
	if w.file != nil {
		// Wakes a goroutine waiting in RawConn.Read (it returns os.ErrClosed); Close returns
		// once that Read has returned.
		w.file.Close()
	}
	<-w.exited
}

// watch starts the goroutine for handle n.c. The caller holds n.mu for reading and n.evMu.
func (n *Node) watch(ch chan<- Event) *watcher {
	w := &watcher{done: make(chan struct{}), exited: make(chan struct{})}
	h := n.c
	if !testNoEventFD {
		if f := eventFile(h); f != nil {
			if rc, err := f.SyscallConn(); err == nil {
				w.file = f
				go w.runPoller(n, h, rc, ch)
				return w
			}
			f.Close()
		}
	}
	// No pollable descriptor (peko_event_fd failed, or the runtime cannot poll it): wait in
	// the library instead, waking regularly to notice stop.
	go w.runBlocking(n, h, ch)
	return w
}

// eventFile wraps a close-on-exec duplicate of the library's event descriptor in an
// *os.File registered with the runtime's network poller, or returns nil. The duplicate shares
// the library's eventfd (already non-blocking), so it is readable exactly while events are
// pending; it is never read from (reading would reset the counter the library manages), only
// waited on, and closing it leaves the library's descriptor open.
func eventFile(h *C.peko_node) *os.File {
	fd := int(C.peko_event_fd(h))
	if fd < 0 {
		return nil
	}
	syscall.ForkLock.RLock()
	dup, err := syscall.Dup(fd)
	if err == nil {
		syscall.CloseOnExec(dup)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil
	}
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return nil
	}
	f := os.NewFile(uintptr(dup), "pekonode-events")
	// Deadlines work only on descriptors the poller accepted; that is what RawConn.Read
	// needs to wait.
	if f == nil || f.SetReadDeadline(time.Time{}) != nil {
		if f != nil {
			f.Close()
		}
		return nil
	}
	return f
}

// runPoller waits for readability through the network poller and drains the library's queue
// each time. RawConn.Read calls the function first and waits only when it returns false,
// which it does only after peko_next_event said the queue is empty; the poller is
// edge-triggered and remembers a readiness that comes before the wait, so an event queued in
// between is not missed.
func (w *watcher) runPoller(n *Node, h *C.peko_node, rc syscall.RawConn, ch chan<- Event) {
	defer close(w.exited)
	defer runtime.KeepAlive(n)
	batch := make([]Event, 0, eventBatch)
	for {
		var failed bool
		err := rc.Read(func(uintptr) bool {
			batch, failed = drain(h, batch[:0])
			return len(batch) > 0 || failed
		})
		for _, ev := range batch {
			select {
			case ch <- ev:
			case <-w.done:
				return
			}
		}
		if err != nil || failed {
			return // the file was closed by stop, or the library failed
		}
	}
}

// runBlocking is the fallback without a pollable descriptor.
func (w *watcher) runBlocking(n *Node, h *C.peko_node, ch chan<- Event) {
	defer close(w.exited)
	defer runtime.KeepAlive(n)
	for {
		select {
		case <-w.done:
			return
		default:
		}
		var ev C.peko_event
		st := C.peko_next_event(h, 100, &ev)
		if st == C.PEKO_ERR_TIMEOUT {
			continue
		}
		if st != C.PEKO_OK {
			return
		}
		e := goEvent(&ev)
		C.peko_event_clear(&ev)
		select {
		case ch <- e:
		case <-w.done:
			return
		}
	}
}

// drain appends pending events (without waiting) until the queue is empty or the batch full.
// failed reports a status other than OK or TIMEOUT.
func drain(h *C.peko_node, batch []Event) (_ []Event, failed bool) {
	for len(batch) < cap(batch) {
		var ev C.peko_event
		switch C.peko_next_event(h, 0, &ev) {
		case C.PEKO_OK:
			batch = append(batch, goEvent(&ev))
			C.peko_event_clear(&ev)
		case C.PEKO_ERR_TIMEOUT:
			return batch, false
		default:
			return batch, true
		}
	}
	return batch, false
}

func goEvent(ev *C.peko_event) Event {
	return Event{
		Kind:   EventKind(ev.kind),
		Member: goMember(&ev.member),
		Lost:   uint64(ev.lost),
	}
}
