//! Join-storm detection: when a member new to us, heard of by rumor, is listed quietly (left to
//! anti-entropy, `Core::sync_soon`) rather than rumored on. In a storm rumors about every joiner
//! from every member would cost N² sends; exchanges carry the members in bulk instead.

use super::types::Millis;
use super::Core;

/// Queued rumors beyond which a member new to us, heard of by rumor, is listed quietly rather
/// than rumored on (a join storm; anti-entropy carries the news then). In `bench --storm` at
/// N = 1,000 with 64, members received 1.5-1.7 million rumors of which 11% named a member new
/// to them, and the process spent 10.7-13.9 CPU seconds; with 16, 0.7 million and 7.4-8.6 s. A
/// burst of fewer joins than this still spreads as an epidemic.
pub const SPREAD_BACKLOG: usize = 16;

/// Members added to our table over the current and the previous gossip cycle (`Core::news_at`;
/// from a join reply, an exchange or a rumor; a member we held as dead coming back is not
/// counted) from which we are in a join storm: a member new to us, heard of by rumor, is then
/// listed quietly like one past `SPREAD_BACKLOG`. The backlog alone misses most of a storm: a
/// member that learns hundreds of members from one exchange has few rumors queued. The storm
/// phase of `bench --storm` at N = 1,000, ten alternating runs of each build (a40be35, and
/// a40be35 with this rule alone, lists polled every 500 ms): 4.09 s (3.42-4.97) against 3.91 s
/// (3.34-4.81) from the last join to complete lists, within the runs' spread, and 9.1 CPU
/// seconds against 8.0. Like the backlog, it sends a burst of this many joins to anti-entropy,
/// no smaller one; a forged table on a connection can set it off too, for two cycles, as a
/// forged datagram of 16 strangers could already fill the backlog for longer.
pub const STORM_NEWS: u32 = 16;

impl Core {
    /// Whether a member new to us, heard of by rumor, is rumored on (`SPREAD_BACKLOG`,
    /// `STORM_NEWS`).
    pub(super) fn rumor_room(&mut self, now: Millis) -> bool {
        self.rumors.len() < SPREAD_BACKLOG && self.news_recent(now) < STORM_NEWS
    }

    /// The counts of members new to our table in the previous gossip cycle and in `now`'s,
    /// moved on to `now`'s cycle (by clock time: a late tick, an extra gossip round or a stop
    /// does not stretch or shorten the window).
    pub(super) fn news_at(&mut self, now: Millis) -> &mut [u32; 2] {
        let cycle = now / self.cfg.timing.cycle.max(1);
        match cycle.saturating_sub(self.news_cycle) {
            0 => {}
            1 => self.news = [self.news[1], 0],
            _ => self.news = [0, 0],
        }
        self.news_cycle = self.news_cycle.max(cycle);
        &mut self.news
    }

    /// Members new to our table over the previous gossip cycle and `now`'s.
    pub(super) fn news_recent(&mut self, now: Millis) -> u32 {
        let [a, b] = *self.news_at(now);
        a.saturating_add(b)
    }
}
