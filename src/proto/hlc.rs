//! Hybrid logical clock for metadata versions: 48 bits of wall-clock milliseconds and a 16-bit
//! counter. It never runs backwards, and it moves past every version it has observed.

#[derive(Default, Debug, Clone, Copy)]
pub struct Hlc {
    last: u64,
}

const LOGICAL_BITS: u32 = 16;

/// The highest clock value: `tick` saturates here and the wire refuses anything above it, so no
/// `+ 1` on a clock value can wrap.
pub const HLC_MAX: u64 = u64::MAX - 1;

impl Hlc {
    /// A new timestamp, later than every one issued or observed before.
    pub fn tick(&mut self, wall_ms: u64) -> u64 {
        let physical = (wall_ms & ((1 << 48) - 1)) << LOGICAL_BITS;
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

    pub fn observe(&mut self, seen: u64) {
        self.last = self.last.max(seen.min(HLC_MAX));
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
    fn saturates_at_the_top_instead_of_wrapping() {
        let mut h = Hlc::default();
        h.observe(HLC_MAX - 1);
        assert_eq!(h.tick(5), HLC_MAX);
        assert_eq!(h.tick(5), HLC_MAX);
        h.observe(u64::MAX);
        assert_eq!(h.tick(5), HLC_MAX);
    }
}
