//! What the console log (`is_print`, or a host logger at the info level) prints on its own,
//! beside the lines of calls and member news: the member list when it changes, and once a
//! minute while it does not, so the log shows the cluster's state without repeating it every
//! cycle; and metadata versions in a form a reader can place in time.

use super::shared::{lock, Shared};
use crate::proto::hlc::Hlc;
use crate::proto::{MetaVersion, Millis};

/// An unchanged member list is printed again this often.
pub const LIST_REPEAT_MS: Millis = 60_000;

/// Decides when the member list is printed.
#[derive(Default)]
pub(super) struct ListPrinter {
    /// The last list printed, and when.
    last: Option<(String, Millis)>,
    /// When a tick loop looks at the list next (`look`).
    next_look: Millis,
}

impl ListPrinter {
    /// A tick loop's look at the list, once per `cycle` while the log is on and the member
    /// runs: printed when `due`.
    pub(super) fn look(&mut self, s: &Shared, now: Millis, cycle: Millis, running: bool) {
        if !s.log.enabled() || now < self.next_look || !running {
            return;
        }
        self.next_look = now + cycle;
        if let Some(list) = self.due(now, s.member_list()) {
            s.log.info("List", list);
        }
    }

    /// Whether `list`, built at `now`, is to be printed: it differs from the last one printed,
    /// or that was `LIST_REPEAT_MS` ago.
    pub(super) fn due(&mut self, now: Millis, list: String) -> Option<String> {
        if let Some((last, at)) = &self.last {
            if *last == list && now < at + LIST_REPEAT_MS {
                return None;
            }
        }
        self.last = Some((list.clone(), now));
        Some(list)
    }
}

impl Shared {
    /// The local member first, then the others listed, of whichever core runs.
    pub(super) fn member_view(&self) -> Vec<(crate::proto::MemberId, crate::proto::Attributes)> {
        match self.compat() {
            Some(m) => super::compat::lock(m).members(),
            None => lock(&self.core).members(),
        }
    }

    /// The console log's member list: "N members: addr:port/name ...".
    pub(super) fn member_list(&self) -> String {
        let members = self.member_view();
        let list: Vec<String> = members
            .iter()
            .map(|(id, a)| {
                if a.name.is_empty() {
                    id.to_string()
                } else {
                    format!("{id}/{}", a.name)
                }
            })
            .collect();
        format!("{} members: {}", list.len(), list.join(" "))
    }
}

/// A metadata version as the log shows it: its clock's wall time (UTC) and counter, then its
/// origin: "2026-12-02 10:37:48.494 #0 from 10.0.0.1:7946".
pub(super) fn version(v: &MetaVersion) -> String {
    let (ms, counter) = Hlc::parts(v.hlc);
    format!("{} #{counter} from {}", crate::log::utc(ms), v.origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_printed_when_it_changes_and_once_a_minute_otherwise() {
        let mut p = ListPrinter::default();
        let one = || "1 members: a".to_string();
        assert!(p.due(0, one()).is_some(), "the first list");
        assert!(p.due(100, one()).is_none(), "unchanged, a cycle later");
        assert!(p.due(LIST_REPEAT_MS - 1, one()).is_none());
        assert!(p.due(LIST_REPEAT_MS, one()).is_some(), "a minute later");
        assert!(p.due(LIST_REPEAT_MS + 100, one()).is_none());
        let two = "2 members: a b".to_string();
        assert_eq!(p.due(LIST_REPEAT_MS + 200, two.clone()), Some(two.clone()));
        assert!(p.due(LIST_REPEAT_MS + 300, two).is_none());
        assert!(p.due(LIST_REPEAT_MS + 400, one()).is_some(), "changed back");
    }

    #[test]
    fn a_version_shows_its_time_and_counter() {
        let v = MetaVersion {
            hlc: (1_796_207_868_494 << 16) | 3,
            origin: "10.0.0.1:7946".parse().unwrap(),
        };
        assert_eq!(version(&v), "2026-12-02 10:37:48.494 #3 from 10.0.0.1:7946");
    }
}
