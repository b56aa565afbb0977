//! Hybrid logical clock for metadata versions: 48 bits of wall-clock milliseconds and a 16-bit
//! counter. It never runs backwards, and it moves past every version it has observed — but it
//! observes only versions whose wall-clock part is at most `DRIFT_MAX_MS` ahead of our own wall
//! clock (the HLC paper's bound on clock drift, ε), so no value off the network can move it
//! further than that: a forged clock at the top is refused rather than believed.

#[derive(Default, Debug, Clone, Copy)]
pub struct Hlc {
    last: u64,
}

const LOGICAL_BITS: u32 = 16;

/// How far ahead of our wall clock a remote version's wall-clock part may be and still be
/// believed. One minute: hosts kept by NTP agree within milliseconds, so only a badly set clock
/// or a forgery is further ahead; the versions of a member whose clock is more than a minute
/// fast are refused (and counted) by the others until its clock is set right.
pub const DRIFT_MAX_MS: u64 = 60_000;

const PHYSICAL_MASK: u64 = (1 << 48) - 1;

/// The highest clock value: `tick` saturates here and the wire refuses anything above it, so no
/// `+ 1` on a clock value can wrap.
pub const HLC_MAX: u64 = u64::MAX - 1;

impl Hlc {
    /// A new timestamp, later than every one issued or observed before.
    pub fn tick(&mut self, wall_ms: u64) -> u64 {
        let physical = (wall_ms & PHYSICAL_MASK) << LOGICAL_BITS;
        self.last = if physical > self.last {
            physical
        } else {
            // Same millisecond, or the clock is behind something seen: count on. Overflowing the
            // counter simply carries into the millisecond part, which keeps the order; at the
            // very top the clock stops (HLC_MAX) rather than wrap.
            self.last.saturating_add(1).min(HLC_MAX)
        };
        self.last
    }

    /// A clock value's parts: wall-clock milliseconds since the Unix epoch, and the counter.
    pub fn parts(value: u64) -> (u64, u16) {
        (value >> LOGICAL_BITS, (value & 0xffff) as u16)
    }

    pub fn observe(&mut self, seen: u64) {
        self.last = self.last.max(seen.min(HLC_MAX));
    }

    /// Whether a remote clock value is within `DRIFT_MAX_MS` of our wall clock `wall_ms`, so it
    /// may be observed.
    pub fn admits(seen: u64, wall_ms: u64) -> bool {
        seen >> LOGICAL_BITS <= (wall_ms & PHYSICAL_MASK) + DRIFT_MAX_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_past_observed() {
        let mut h = Hlc::default();
        let a = h.tick(1000);
        let b = h.tick(1000);
        assert!(b > a);
        let c = h.tick(900); // clock stepped back
        assert!(c > b);
        // Someone's clock is an hour ahead: our next publish still orders after theirs.
        let mut fast = Hlc::default();
        let f = fast.tick(1000 + 3_600_000);
        h.observe(f);
        assert!(h.tick(1001) > f);
    }

    #[test]
    fn admits_values_up_to_the_drift_bound() {
        let wall = 1_767_225_600_000;
        let mut h = Hlc::default();
        let ours = h.tick(wall);
        assert!(Hlc::admits(ours, wall));
        let mut fast = Hlc::default();
        assert!(Hlc::admits(fast.tick(wall + DRIFT_MAX_MS), wall));
        let mut too_fast = Hlc::default();
        assert!(!Hlc::admits(too_fast.tick(wall + DRIFT_MAX_MS + 1), wall));
        assert!(!Hlc::admits(HLC_MAX, wall));
        assert!(!Hlc::admits(u64::MAX, wall));
    }

    #[test]
    fn saturates_at_the_top_instead_of_wrapping() {
        let mut h = Hlc::default();
        h.observe(HLC_MAX - 1);
        assert_eq!(h.tick(5), HLC_MAX);
        assert_eq!(h.tick(5), HLC_MAX);
        h.observe(u64::MAX);
        assert_eq!(h.tick(5), HLC_MAX);
    }
}
