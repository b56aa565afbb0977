//! What the kernel says about this process (/proc, getrusage, getrlimit): CPU time, resident
//! memory, open files, and the UDP datagrams it dropped before the library saw them.

/// Raises the soft open-files limit to the hard limit: 200 members need ~400 fds plus streams.
pub fn raise_nofile() -> (u64, u64) {
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return (0, 0);
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
        (r.rlim_cur as u64, r.rlim_max as u64)
    }
}

/// File descriptors the process holds (Linux: entries of /proc/self/fd).
pub fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

fn rusage() -> libc::rusage {
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    }
}

/// User + system CPU time of the whole process, in seconds.
pub fn cpu_seconds() -> f64 {
    let u = rusage();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Resident memory of the process now (VmRSS in /proc/self/status), MiB.
pub fn rss_now_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Peak resident memory of the process so far (ru_maxrss, KiB on Linux), MiB.
pub fn rss_peak_mib() -> f64 {
    rusage().ru_maxrss as f64 / 1024.0
}

/// Gives freed heap pages back to the kernel, so that resident memory shows live data: glibc
/// keeps freed memory (the join burst's) until asked.
pub fn trim_heap() {
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe { libc::malloc_trim(0) };
}

/// The kernel's UDP receive errors (whole network namespace, /proc/net/snmp): InErrors and
/// RcvbufErrors. Datagrams the kernel dropped never reach the library's counters.
pub fn udp_errors() -> Option<(u64, u64)> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let get = |name: &str| -> Option<u64> {
        let i = names.iter().position(|n| *n == name)?;
        values.get(i)?.parse().ok()
    };
    Some((get("InErrors")?, get("RcvbufErrors")?))
}

/// `b - a` for two readings of [`udp_errors`], when both were read.
pub fn udp_errors_between(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> Option<(u64, u64)> {
    match (a, b) {
        (Some(a), Some(b)) => Some((b.0.saturating_sub(a.0), b.1.saturating_sub(a.1))),
        _ => None,
    }
}
