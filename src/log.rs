//! The console log: timestamped lines in the spirit of the original's `IsPrint`. Errors always go
//! to stderr (or the host's logger). Whatever the network does, what it can make one member log
//! is bounded: per `WINDOW`, at most `ERRORS_PER_WINDOW` error lines and
//! `EVENT_LINES_PER_WINDOW` lines of member news (joined, updated, failed, left, metadata,
//! exchanged), and for each kind one more line, at its first line after the window, saying how
//! many were not printed. The other lines follow the host's own doing: the member list when it
//! changes (and once a minute otherwise) while the log is on, and one line per call that changes
//! something. Error lines about one address (frames that fail authentication) come at most once
//! a minute per address and topic (`error_about`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Error lines one member prints per `WINDOW`.
pub const ERRORS_PER_WINDOW: u32 = 5;
/// Lines of member news one member prints per `WINDOW` (a join of hundreds, forged or not,
/// shows its first ones and then how many more there were).
pub const EVENT_LINES_PER_WINDOW: u32 = 50;
/// The rate limiter's interval.
pub const WINDOW: Duration = Duration::from_secs(10);
/// An error line about one source on one topic (`Logger::error_about`) is repeated at most this
/// often while the cause lasts...
pub const NOTICE_PERIOD: Duration = Duration::from_secs(60);
/// ...for at most this many sources at once (past it, the one said longest ago is forgotten; the
/// errors' budget bounds the lines anyway).
const NOTICE_SOURCES: usize = 64;

/// Severity of a log line, as `peko_set_log` takes it.
pub const LEVEL_ERROR: u32 = 0;
pub const LEVEL_INFO: u32 = 1;

/// A host's logger: a C callback, its userdata and the most verbose level it wants.
#[derive(Clone, Copy)]
pub struct Sink {
    pub callback: unsafe extern "C" fn(*mut std::ffi::c_void, u32, *const std::ffi::c_char),
    pub userdata: usize,
    pub level: u32,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);
/// Callbacks running right now, on any thread.
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    static IN_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside a call to the host's logger.
pub fn in_callback() -> bool {
    IN_CALLBACK.with(|c| c.get())
}

/// Sends log lines to `sink` instead of the console (`None` restores the console). Returns once
/// no callback of the previous sink is running on another thread, so the host may then free its
/// userdata. (From inside a callback it cannot wait for itself, and does not.)
pub fn set_sink(sink: Option<Sink>) {
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = sink;
    let own = usize::from(IN_CALLBACK.with(|c| c.get()));
    while IN_FLIGHT.load(std::sync::atomic::Ordering::Acquire) > own {
        std::thread::yield_now();
    }
}

/// Delivers a line to the host's logger if one is set; false means "print it yourself".
fn to_sink(level: u32, line: &str) -> bool {
    // Copy the sink out so the callback runs with no library lock held.
    let sink = {
        let guard = SINK.lock().unwrap_or_else(|e| e.into_inner());
        // Counted before the lock is released, so set_sink cannot miss this call.
        if guard.is_some() {
            IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        *guard
    };
    let Some(sink) = sink else { return false };
    if level <= sink.level {
        let c = std::ffi::CString::new(line.replace('\0', " ")).expect("NULs replaced");
        let was = IN_CALLBACK.with(|f| f.replace(true));
        // SAFETY: the host gave this callback for exactly this call shape (peko_set_log).
        unsafe { (sink.callback)(sink.userdata as *mut std::ffi::c_void, level, c.as_ptr()) };
        IN_CALLBACK.with(|f| f.set(was));
    }
    IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    true
}

pub struct Logger {
    enabled: bool,
    label: Mutex<String>,
    errors: Mutex<Budget>,
    events: Mutex<Budget>,
    /// When each (source, topic) of `error_about` was last logged.
    notices: Mutex<HashMap<(SocketAddr, &'static str), Instant>>,
}

/// Lines of one kind printed and held back in the current window.
struct Budget {
    start: Instant,
    printed: u32,
    suppressed: u64,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            start: Instant::now(),
            printed: 0,
            suppressed: 0,
        }
    }

    /// Whether a line may be printed now, and how many were held back in the window that just
    /// ended (to be said first).
    fn admit(m: &Mutex<Budget>, limit: u32) -> (u64, bool) {
        let mut b = m.lock().unwrap_or_else(|e| e.into_inner());
        let mut held_back = 0;
        if b.start.elapsed() >= WINDOW {
            held_back = b.suppressed;
            *b = Budget::new();
        }
        let print = b.printed < limit;
        if print {
            b.printed += 1;
        } else {
            b.suppressed += 1;
        }
        (held_back, print)
    }
}

/// Now as `YYYY-MM-DD HH:MM:SS.mmm` in UTC.
pub fn timestamp() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    utc(d.as_millis() as u64)
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM:SS.mmm` in UTC.
pub fn utc(ms: u64) -> String {
    let d = Duration::from_millis(ms);
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

impl Logger {
    pub fn new(enabled: bool, label: String) -> Logger {
        Logger {
            enabled,
            label: Mutex::new(label),
            errors: Mutex::new(Budget::new()),
            events: Mutex::new(Budget::new()),
            notices: Mutex::new(HashMap::new()),
        }
    }

    /// Whether info lines go anywhere (the console log, or a host logger that wants them).
    pub fn enabled(&self) -> bool {
        self.enabled
            || SINK
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|s| s.level >= LEVEL_INFO)
    }

    pub fn set_label(&self, label: String) {
        *self.label.lock().unwrap_or_else(|e| e.into_inner()) = label;
    }

    fn label(&self) -> String {
        self.label.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// An informational line the host caused (a call, the member list when it changed).
    pub fn info(&self, tag: &str, msg: impl std::fmt::Display) {
        if !self.enabled() {
            return;
        }
        self.emit_info(format!("{} [{tag}] {} {msg}", timestamp(), self.label()));
    }

    /// An informational line of member news, which the network decides: at most
    /// `EVENT_LINES_PER_WINDOW` per window.
    pub fn event(&self, tag: &str, msg: impl std::fmt::Display) {
        if !self.enabled() {
            return;
        }
        let (held_back, print) = Budget::admit(&self.events, EVENT_LINES_PER_WINDOW);
        if held_back > 0 {
            self.emit_info(format!(
                "{} [Log] {} {held_back} more lines of member news were not printed",
                timestamp(),
                self.label()
            ));
        }
        if print {
            self.emit_info(format!("{} [{tag}] {} {msg}", timestamp(), self.label()));
        }
    }

    fn emit_info(&self, line: String) {
        if !to_sink(LEVEL_INFO, &line) {
            println!("{line}");
        }
    }

    /// A warning the host must see: delivered at the error level (the levels a host can ask for
    /// are errors and information), tagged `[Warning]`, and not counted against the errors' rate
    /// limit. For things said once, such as a member joining without a key.
    pub fn warn(&self, msg: impl std::fmt::Display) {
        let line = format!("{} [Warning] {} {msg}", timestamp(), self.label());
        if !to_sink(LEVEL_ERROR, &line) {
            eprintln!("{line}");
        }
    }

    /// An error line about `source` (an address whose frames we cannot authenticate, say): the
    /// first at once, then at most once per `NOTICE_PERIOD` for that source and `topic`, within
    /// the errors' budget (a notice the budget held back is not counted as said). The table of
    /// sources holds `NOTICE_SOURCES`; a new one pushes out the one said longest ago.
    pub fn error_about(
        &self,
        source: SocketAddr,
        topic: &'static str,
        msg: impl std::fmt::Display,
    ) {
        let now = Instant::now();
        let said = |seen: &HashMap<(SocketAddr, &'static str), Instant>| {
            seen.get(&(source, topic))
                .is_some_and(|t| now.duration_since(*t) < NOTICE_PERIOD)
        };
        if said(&self.notices.lock().unwrap_or_else(|e| e.into_inner())) {
            return;
        }
        // Printed outside the table's lock: a host logger must never run inside our locks.
        if !self.error(msg) {
            return;
        }
        let mut seen = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= NOTICE_SOURCES && !seen.contains_key(&(source, topic)) {
            let oldest = seen.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k);
            if let Some(k) = oldest {
                seen.remove(&k);
            }
        }
        seen.insert((source, topic), now);
    }

    /// An error line, within the errors' budget; whether it was printed.
    pub fn error(&self, msg: impl std::fmt::Display) -> bool {
        // Decided under the budget's lock, printed after it: a host logger must never run
        // inside our locks.
        let (suppressed, print) = Budget::admit(&self.errors, ERRORS_PER_WINDOW);
        let emit = |line: String| {
            if !to_sink(LEVEL_ERROR, &line) {
                eprintln!("{line}");
            }
        };
        if suppressed > 0 {
            emit(format!(
                "{} [Error] {} {suppressed} more errors were not printed",
                timestamp(),
                self.label()
            ));
        }
        if print {
            emit(format!("{} [Error] {} {msg}", timestamp(), self.label()));
        }
        print
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_prints_its_budget_then_says_how_many_it_held_back() {
        let b = Mutex::new(Budget::new());
        let printed = (0..20).filter(|_| Budget::admit(&b, 5).1).count();
        assert_eq!(printed, 5);
        b.lock().unwrap().start -= WINDOW;
        assert_eq!(
            Budget::admit(&b, 5),
            (15, true),
            "the next window says 15 were held back"
        );
        assert_eq!(Budget::admit(&b, 5), (0, true));
    }

    /// A notice about one source is said once per period, others' notices still come, a notice
    /// the budget held back comes at the next chance, and a flood of sources pushes out the
    /// oldest instead of silencing newcomers.
    #[test]
    fn a_notice_about_a_source_comes_once_per_period() {
        let log = Logger::new(false, "t".into());
        let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let printed = || log.errors.lock().unwrap().printed;
        let fresh_window = || *log.errors.lock().unwrap() = Budget::new();
        log.error_about(at(1), "auth", "x");
        log.error_about(at(1), "auth", "x");
        assert_eq!(printed(), 1);
        log.error_about(at(1), "label", "x");
        assert_eq!(printed(), 2, "another topic about the same source");
        // The budget is spent: held back, and so not counted as said.
        for port in 2..10 {
            log.error_about(at(port), "auth", "x");
        }
        assert_eq!(printed(), ERRORS_PER_WINDOW);
        fresh_window();
        log.error_about(at(9), "auth", "x");
        assert_eq!(
            printed(),
            1,
            "a held-back notice comes once the budget allows"
        );
        // Many sources: the table stays bounded and a new source is still said.
        for port in 100..300 {
            fresh_window();
            log.error_about(at(port), "auth", "x");
        }
        assert_eq!(log.notices.lock().unwrap().len(), NOTICE_SOURCES);
        fresh_window();
        log.error_about(at(1000), "auth", "x");
        assert_eq!(printed(), 1, "a full table does not silence a new source");
        // Once the period is over, said again.
        let mut seen = log.notices.lock().unwrap();
        let t = seen.get_mut(&(at(1000), "auth")).unwrap();
        *t = t.checked_sub(NOTICE_PERIOD).unwrap_or(*t);
        let aged = *t;
        drop(seen);
        fresh_window();
        log.error_about(at(1000), "auth", "x");
        let again = printed() == 1;
        assert!(
            again || aged.elapsed() < NOTICE_PERIOD,
            "said again once the period is over"
        );
    }

    #[test]
    fn utc_of_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(951_782_400_123), "2000-02-29 00:00:00.123");
        assert_eq!(utc(1_796_207_868_494), "2026-12-02 10:37:48.494");
    }

    #[test]
    fn timestamp_shape() {
        let t = super::timestamp();
        assert_eq!(t.len(), 23, "{t}");
        assert!(t.starts_with("20"), "{t}");
    }
}
