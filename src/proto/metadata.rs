//! The cluster metadata register: one value, versioned by a hybrid logical clock (`hlc.rs`) with
//! the publisher as tie-breaker; the newest version wins everywhere. Small values ride as rumors;
//! larger ones are announced and fetched from whoever announced them, on a connection: the fetch
//! goes out on the one the announcement came on, or, for an announcement by datagram from a
//! member we have verified, on one we open; the metadata comes back on the same one.

use super::hlc::Hlc;
use super::types::{Arrival, Event, MemberId, Message, MetaVersion, Metadata, Millis, Route};
use super::Core;

/// A publish that was not applied: the clock cannot move past the version held (it stopped at
/// `hlc::HLC_MAX`), so the new value would lose everywhere, here included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishRefused {
    pub held: MetaVersion,
}

impl Core {
    pub fn metadata(&self) -> Option<&Metadata> {
        self.meta.as_ref()
    }

    pub(super) fn meta_version(&self) -> Option<MetaVersion> {
        self.meta.as_ref().map(|m| m.version)
    }

    /// Replaces the cluster metadata. `wall_ms` is the wall clock, for the hybrid logical clock.
    /// The new version is newer than every version held or seen; when the clock cannot give
    /// one (it is at its top), nothing changes and the publish is refused.
    pub fn publish(
        &mut self,
        now: Millis,
        wall_ms: u64,
        data: Vec<u8>,
    ) -> Result<MetaVersion, PublishRefused> {
        let version = MetaVersion {
            hlc: self.hlc.tick(wall_ms),
            origin: self.cfg.me,
        };
        if let Some(held) = self.meta_version().filter(|held| *held >= version) {
            return Err(PublishRefused { held });
        }
        self.store_meta(now, Metadata { version, data });
        Ok(version)
    }

    /// Our estimate of the wall clock at `now`: the last reading (`set_wall_clock`) moved on by
    /// the monotonic clock.
    fn wall_ms(&self, now: Millis) -> u64 {
        let (at, wall) = self.wall;
        wall.saturating_add(now.saturating_sub(at))
    }

    /// A wall-clock reading (milliseconds since the Unix epoch) taken at `now`: the drift bound
    /// on remote metadata versions is measured from it.
    pub fn set_wall_clock(&mut self, now: Millis, wall_ms: u64) {
        self.wall = (now, wall_ms);
    }

    /// Whether a remote version may be believed: its clock is at most `hlc::DRIFT_MAX_MS` ahead
    /// of our wall clock. Refusals are counted.
    fn plausible_version(&mut self, now: Millis, v: &MetaVersion) -> bool {
        let ok = Hlc::admits(v.hlc, self.wall_ms(now));
        if !ok {
            self.clocks_implausible += 1;
        }
        ok
    }

    /// Metadata from another member (a rumor, a response, a push-pull).
    pub(super) fn apply_meta(&mut self, now: Millis, m: Metadata) {
        if m.data.len() > self.cfg.max_meta || self.meta_version() >= Some(m.version) {
            return;
        }
        if !self.plausible_version(now, &m.version) {
            return;
        }
        self.store_meta(now, m);
    }

    /// Holds `m` and spreads it: a gossip round at once rather than at the next cycle, here and
    /// in every member it reaches, so that a publish crosses the cluster in about as many network
    /// hops as rounds it would take (log_(amount+1) N) rather than as many cycles. The sends are
    /// the same ones (the rumor's transmit limit), only sooner.
    fn store_meta(&mut self, now: Millis, m: Metadata) {
        self.timers.gossip = self.timers.gossip.min(now);
        self.hlc.observe(m.version.hlc);
        if self.meta_fetch.is_some_and(|(v, _)| v <= m.version) {
            self.meta_fetch = None;
        }
        let version = m.version;
        self.rumors.push_meta(&m);
        self.meta = Some(m);
        self.push_event(Event::MetadataChanged(version));
    }

    /// `holder` has metadata at `version` (we heard so `via` some transport): fetch it if ours
    /// is older and the version is plausible. On a connection the fetch goes back on it. By
    /// datagram, `holder` is only what the datagram claims, and the fetch would open a
    /// connection to it (a handshake, retries and a frame: more than the datagram weighed, to
    /// any address it names): so only from a member we list and have verified; otherwise the
    /// announcement is counted and dropped. It spreads as a rumor too, so a verified member
    /// that holds the version announces it as well (and digests repair the rest).
    pub(super) fn on_meta_announce(
        &mut self,
        now: Millis,
        version: MetaVersion,
        holder: MemberId,
        via: Arrival,
    ) {
        if self.meta_version() >= Some(version) {
            return;
        }
        if matches!(via, Arrival::Datagram { .. }) && !self.is_verified(&holder) {
            self.announces_ignored += 1;
            self.verify_soon(holder);
            return;
        }
        if self.plausible_version(now, &version) {
            self.request_meta(now, version, holder, via.ask());
        }
    }

    /// A fetch on a connection (`handle` drops those that come by datagram): the metadata goes
    /// back on it.
    pub(super) fn on_meta_request(&mut self, from: MemberId, via: Arrival) {
        if let Some(meta) = self.meta.clone() {
            self.send(
                from,
                Message::MetaResponse {
                    from: self.cfg.me,
                    meta,
                },
                via.answer(),
            );
        }
    }

    /// Digests agree on the members; the newer metadata side sends (or is asked for) its value.
    pub(super) fn sync_meta_versions(
        &mut self,
        now: Millis,
        from: MemberId,
        via: Arrival,
        theirs: Option<MetaVersion>,
    ) {
        let mine = self.meta_version();
        if let Some(v) = theirs.filter(|_| theirs > mine) {
            if self.plausible_version(now, &v) {
                self.request_meta(now, v, from, via.ask());
            }
        } else if mine > theirs {
            self.on_meta_request(from, via);
        }
    }

    /// Asks `holder` for the metadata, by `route`: a connection we open, or the one its news
    /// came on.
    fn request_meta(&mut self, now: Millis, version: MetaVersion, holder: MemberId, route: Route) {
        if let Some((v, at)) = self.meta_fetch {
            if v >= version && now < at + self.cfg.timing.probe_interval {
                return;
            }
        }
        self.meta_fetch = Some((version, now));
        self.send(holder, Message::MetaRequest { from: self.cfg.me }, route);
    }
}
