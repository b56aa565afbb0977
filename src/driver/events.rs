//! The user's event queue: pull-style, bounded, with a file descriptor that is readable while
//! events are pending (for epoll, libuv or Go's netpoller). No foreign thread is ever called.

use crate::proto::{Attributes, Event, MemberId};
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Queue bound; when full the oldest event is dropped and the next one delivered says how many.
pub const EVENTS_MAX: usize = 1024;
/// Bound until the user first asks for events: a program that never reads them must not hold a
/// thousand per member, yet one that subscribes just after joining still sees the first ones.
pub const EVENTS_UNREAD_MAX: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Joined,
    Left,
    Failed,
    Updated,
    Metadata,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEvent {
    pub kind: Kind,
    /// The member concerned; for `Metadata`, the publisher.
    pub member: MemberId,
    pub attrs: Attributes,
    /// Events dropped (the queue was full) since the previous event was delivered.
    pub lost: u64,
}

struct Queue {
    events: VecDeque<UserEvent>,
    /// Dropped since the last event delivered (goes out in that event's `lost`).
    lost: u64,
    /// Dropped since the node was created (a counter for monitoring).
    lost_total: u64,
    /// Whether the user has asked for events (raises the bound to `EVENTS_MAX`).
    subscribed: bool,
    /// The node was closed: waiters return at once, and for good.
    closed: bool,
}

/// `Events::next` found the node closed (`Node::close`, `peko_free`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed;

pub struct Events {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// An eventfd whose counter is non-zero exactly while the queue is not empty.
    fd: Option<OwnedFd>,
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    pub fn new() -> Events {
        // SAFETY: eventfd returns a new descriptor (or -1), which we then own.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        let fd = (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw) });
        Events {
            queue: Mutex::new(Queue {
                events: VecDeque::new(),
                lost: 0,
                lost_total: 0,
                subscribed: false,
                closed: false,
            }),
            ready: Condvar::new(),
            fd,
        }
    }

    /// Raises the queue's bound: the user reads events.
    pub fn subscribe(&self) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .subscribed = true;
    }

    pub fn fd(&self) -> Option<RawFd> {
        self.subscribe();
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    fn signal(&self, readable: bool) {
        let Some(fd) = &self.fd else { return };
        if readable {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a valid u64 to our own eventfd.
            unsafe { libc::write(fd.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8) };
        } else {
            let mut v: u64 = 0;
            // SAFETY: reading 8 bytes into a valid u64 resets the counter (non-blocking).
            unsafe { libc::read(fd.as_raw_fd(), &mut v as *mut u64 as *mut libc::c_void, 8) };
        }
    }

    /// Converts the core's events into the user's and queues them.
    pub fn push_all(&self, core_events: &[Event]) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let bound = if q.subscribed {
            EVENTS_MAX
        } else {
            EVENTS_UNREAD_MAX
        };
        let was_empty = q.events.is_empty();
        for e in core_events {
            let (kind, member, attrs) = match e {
                Event::Joined(id, a) => (Kind::Joined, *id, a.clone()),
                Event::Updated(id, a) => (Kind::Updated, *id, a.clone()),
                Event::Failed(id) => (Kind::Failed, *id, Attributes::default()),
                Event::Left(id) => (Kind::Left, *id, Attributes::default()),
                Event::MetadataChanged(v) => (Kind::Metadata, v.origin, Attributes::default()),
                Event::Synced(_) => continue,
            };
            if q.events.len() >= bound {
                q.events.pop_front();
                q.lost += 1;
                q.lost_total += 1;
            }
            q.events.push_back(UserEvent {
                kind,
                member,
                attrs,
                lost: 0,
            });
        }
        if was_empty && !q.events.is_empty() {
            self.signal(true);
            self.ready.notify_all();
        }
    }

    /// Events dropped from the full queue since the node was created.
    pub fn lost_total(&self) -> u64 {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lost_total
    }

    /// Wakes every waiter for good: from now on `next` returns `Closed`.
    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_all();
    }

    /// The next event, waiting up to `timeout` for one (`Ok(None)` when none came); `Closed`
    /// once the node is closed, also for a thread that was waiting then.
    pub fn next(&self, timeout: Duration) -> Result<Option<UserEvent>, Closed> {
        let deadline = Instant::now().checked_add(timeout);
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.subscribed = true;
        loop {
            if q.closed {
                return Err(Closed);
            }
            if let Some(mut e) = q.events.pop_front() {
                e.lost = std::mem::take(&mut q.lost);
                if q.events.is_empty() {
                    self.signal(false);
                    // A drained burst gives its buffer back.
                    if q.events.capacity() > EVENTS_UNREAD_MAX {
                        q.events = VecDeque::new();
                    }
                }
                return Ok(Some(e));
            }
            // A timeout too long to add to the clock waits as long as the wait allows, again.
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Ok(None);
            }
            q = self
                .ready
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(p: u16) -> MemberId {
        format!("127.0.0.1:{p}").parse().unwrap()
    }

    fn readable(fd: RawFd) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn few_are_kept_until_someone_asks() {
        let ev = Events::new();
        let many: Vec<Event> = (0..200u16).map(|p| Event::Failed(id(p))).collect();
        ev.push_all(&many);
        let first = ev.next(Duration::ZERO).unwrap().unwrap();
        assert_eq!(first.member, id(200 - EVENTS_UNREAD_MAX as u16));
        assert_eq!(first.lost, 200 - EVENTS_UNREAD_MAX as u64);
    }

    #[test]
    fn fd_is_readable_exactly_while_events_are_pending() {
        let ev = Events::new();
        let fd = ev.fd().unwrap();
        assert!(!readable(fd));
        ev.push_all(&[Event::Failed(id(1)), Event::Left(id(2))]);
        assert!(readable(fd));
        assert_eq!(ev.next(Duration::ZERO).unwrap().unwrap().kind, Kind::Failed);
        assert!(readable(fd));
        assert_eq!(ev.next(Duration::ZERO).unwrap().unwrap().kind, Kind::Left);
        assert!(!readable(fd));
        assert_eq!(ev.next(Duration::from_millis(10)), Ok(None));
    }

    #[test]
    fn close_wakes_a_waiter_and_stays_closed() {
        let ev = std::sync::Arc::new(Events::new());
        let ev2 = ev.clone();
        let waiter = std::thread::spawn(move || ev2.next(Duration::from_secs(3600)));
        ev.close();
        assert_eq!(waiter.join().unwrap(), Err(Closed));
        ev.push_all(&[Event::Failed(id(1))]);
        assert_eq!(ev.next(Duration::ZERO), Err(Closed));
    }

    #[test]
    fn overflow_drops_the_oldest_and_says_how_many() {
        let ev = Events::new();
        ev.subscribe();
        let many: Vec<Event> = (0..EVENTS_MAX as u16 + 5)
            .map(|p| Event::Failed(id(p)))
            .collect();
        ev.push_all(&many);
        let first = ev.next(Duration::ZERO).unwrap().unwrap();
        assert_eq!(first.member, id(5), "the oldest were dropped");
        assert_eq!(first.lost, 5, "the next event delivered says how many");
        assert_eq!(ev.next(Duration::ZERO).unwrap().unwrap().lost, 0);
        assert_eq!(ev.lost_total(), 5, "the total stays after delivery");
    }
}
