//! The budget for members introduced by third parties: how many members new to us one message,
//! and one anti-entropy period, may add to the table (a forged table cannot fill it). The member
//! table (`state.rs`) takes from it for every introduction that is not exempt (`Via`).

use super::types::Millis;

/// Most members new to us that one message may introduce, unless they speak for themselves on a
/// connection (their own `Alive`, the sender's own entry) or answer our join (on a connection we
/// opened). A forged table cannot fill
/// the table in one exchange; a real exchange that carries more is finished by the next.
pub const INTRODUCTIONS_PER_MESSAGE: u32 = 1024;
/// Most members new to us that third parties may introduce per anti-entropy base period
/// (30 cycles: 3 s at a 100 ms cycle, 15 s at the default 500 ms), refilled evenly. A join storm
/// of a thousand members fits in one period with room to spare (issue 11 carries join storms
/// by push-pull); a larger one goes on at this rate (10,000 members at a 200 ms cycle in about
/// 15 s); a forged table adds at most this many members per period.
pub const INTRODUCTIONS_PER_PERIOD: u32 = 4096;

/// The budget for members introduced by third parties (`INTRODUCTIONS_PER_MESSAGE`,
/// `INTRODUCTIONS_PER_PERIOD`).
#[derive(Debug)]
pub(super) struct Introductions {
    tokens: u32,
    refilled: Millis,
    /// What the time since `refilled` earned beyond whole tokens, in units of 1/`period` token
    /// (every millisecond earns `INTRODUCTIONS_PER_PERIOD` units): kept, so the refill runs at
    /// its rate however often it is asked.
    carry: u64,
    this_message: u32,
}

impl Default for Introductions {
    fn default() -> Introductions {
        Introductions {
            tokens: INTRODUCTIONS_PER_PERIOD,
            refilled: 0,
            carry: 0,
            this_message: 0,
        }
    }
}

impl Introductions {
    /// A new message starts: its own allowance is whole again.
    pub(super) fn next_message(&mut self) {
        self.this_message = 0;
    }

    /// Takes one introduction if the message's and the period's allowances have one.
    pub(super) fn take(&mut self, now: Millis, period: Millis) -> bool {
        let (period, full) = (period.max(1), INTRODUCTIONS_PER_PERIOD as u64);
        let units = now
            .saturating_sub(self.refilled)
            .saturating_mul(full)
            .saturating_add(self.carry);
        self.refilled = self.refilled.max(now);
        let tokens = (self.tokens as u64).saturating_add(units / period);
        if tokens >= full {
            // Full: nothing is banked beyond it.
            self.tokens = INTRODUCTIONS_PER_PERIOD;
            self.carry = 0;
        } else {
            self.tokens = tokens as u32;
            self.carry = units % period;
        }
        if self.this_message >= INTRODUCTIONS_PER_MESSAGE || self.tokens == 0 {
            return false;
        }
        self.this_message += 1;
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Introductions refill at `INTRODUCTIONS_PER_PERIOD` per period however often they are
    /// asked for: fractions of a token are kept between calls.
    #[test]
    fn introductions_refill_at_the_documented_rate() {
        for (period, step) in [(15_000, 5), (15_000, 7), (3_000, 1), (3_000, 2), (9_000, 4)] {
            let mut intro = Introductions::default();
            let mut now = 0;
            while intro.take(now, period) {
                intro.next_message();
            }
            let mut taken = 0u64;
            let end = now + 2 * period;
            while now < end {
                now += step;
                intro.next_message();
                while intro.take(now, period) {
                    taken += 1;
                    if intro.this_message >= INTRODUCTIONS_PER_MESSAGE {
                        intro.next_message();
                    }
                }
            }
            let want = 2 * INTRODUCTIONS_PER_PERIOD as u64;
            assert!(
                taken + 2 >= want && taken <= want + 1,
                "period {period} ms, asked every {step} ms: {taken} in two periods, not {want}"
            );
        }
    }
}
