//! Lifeguard's local health: a member that misses nacks, is suspected, or notices that it did not
//! run for a while distrusts its own view, and stretches its probe interval and timeout rather
//! than accuse others.

use super::types::Millis;

/// Local health is 0 (healthy) ..= `HEALTH_MAX`; each step stretches the probe interval and probe
/// timeout by one more multiple.
pub const HEALTH_MAX: u32 = 8;

#[derive(Clone, Copy, Debug, Default)]
pub struct Awareness {
    score: u32,
}

impl Awareness {
    pub fn score(&self) -> u32 {
        self.score
    }

    /// The factor probe timers are multiplied by: `1 + score`.
    pub fn stretch(&self) -> Millis {
        1 + self.score as Millis
    }

    /// Something hints that the trouble is ours: `by` steps less healthy, up to `HEALTH_MAX`.
    pub fn worsen(&mut self, by: u32) {
        self.score = self.score.saturating_add(by).min(HEALTH_MAX);
    }

    /// An acked probe: one step healthier.
    pub fn improve(&mut self) {
        self.score = self.score.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_both_ways() {
        let mut a = Awareness::default();
        a.improve();
        assert_eq!(a.score(), 0);
        assert_eq!(a.stretch(), 1);
        a.worsen(u32::MAX);
        assert_eq!(a.score(), HEALTH_MAX);
        assert_eq!(a.stretch(), 1 + HEALTH_MAX as Millis);
        a.improve();
        assert_eq!(a.score(), HEALTH_MAX - 1);
    }
}
