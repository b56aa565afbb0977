//! The console log: timestamped lines in the spirit of the original's `IsPrint`. Errors always go
//! to stderr, at most `ERRORS_PER_WINDOW` per member per window, so a broken network cannot flood
//! the host's terminal.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ERRORS_PER_WINDOW: u32 = 5;
const ERROR_WINDOW: Duration = Duration::from_secs(10);

pub struct Logger {
    enabled: bool,
    label: Mutex<String>,
    errors: Mutex<ErrorWindow>,
}

struct ErrorWindow {
    start: Instant,
    printed: u32,
    suppressed: u64,
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC.
pub fn timestamp() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
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
            errors: Mutex::new(ErrorWindow {
                start: Instant::now(),
                printed: 0,
                suppressed: 0,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn set_label(&self, label: String) {
        *self.label.lock().unwrap_or_else(|e| e.into_inner()) = label;
    }

    fn label(&self) -> String {
        self.label.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn info(&self, tag: &str, msg: impl std::fmt::Display) {
        if self.enabled {
            println!("{} [{tag}] {} {msg}", timestamp(), self.label());
        }
    }

    pub fn error(&self, msg: impl std::fmt::Display) {
        let mut w = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if w.start.elapsed() >= ERROR_WINDOW {
            if w.suppressed > 0 {
                eprintln!(
                    "{} [Error] {} {} more errors were not printed",
                    timestamp(),
                    self.label(),
                    w.suppressed
                );
            }
            *w = ErrorWindow {
                start: Instant::now(),
                printed: 0,
                suppressed: 0,
            };
        }
        if w.printed < ERRORS_PER_WINDOW {
            w.printed += 1;
            eprintln!("{} [Error] {} {msg}", timestamp(), self.label());
        } else {
            w.suppressed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_shape() {
        let t = super::timestamp();
        assert_eq!(t.len(), 23, "{t}");
        assert!(t.starts_with("20"), "{t}");
    }
}
