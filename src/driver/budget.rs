//! In-flight bytes: how much memory the bodies of inbound stream frames may hold from the moment
//! they are read until the message they carry has been handled. A body is read only once its
//! length is granted, by its member's budget and by the process's (one for all members); until
//! then it waits in line, within its frame's deadline. So N senders each claiming the longest
//! frame cost at most the budgets, not N frames.
//!
//! A grant is taken for the claimed length before a byte of the body arrives, and a sender may
//! then send nothing until its deadline. So small frames (at most `STREAM_SMALL_FRAME_MAX`: the
//! digests, metadata requests and probes that keep a member running) have budgets of their own
//! that longer frames never take: claims of long frames cannot hold them up.

use crate::wire::STREAM_SMALL_FRAME_MAX;
use once_cell::sync::Lazy;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Body bytes of long frames one member may be reading at once: two default-size push-pulls
/// (each up to `size` + 8 MiB). A longer frame takes the whole budget: it waits until it is
/// alone.
pub const MEMBER_BYTES: usize = 16 << 20;
/// Body bytes of long frames all members of the process may be reading at once. A longer frame
/// takes the whole budget, so the process holds at most this or one frame.
pub const PROCESS_BYTES: usize = 64 << 20;
/// Body bytes of small frames one member may be reading at once, besides `MEMBER_BYTES`: 64
/// small frames of the longest kind, thousands of the usual (a digest is 28 bytes).
pub const MEMBER_SMALL_BYTES: usize = 64 * STREAM_SMALL_FRAME_MAX;
/// Body bytes of small frames all members of the process may be reading at once, besides
/// `PROCESS_BYTES`.
pub const PROCESS_SMALL_BYTES: usize = 4 * MEMBER_SMALL_BYTES;

/// The process's budgets: for long frames, and for small ones.
static PROCESS: Lazy<[Semaphore; 2]> = Lazy::new(|| {
    [
        Semaphore::new(PROCESS_BYTES),
        Semaphore::new(PROCESS_SMALL_BYTES),
    ]
});

/// One member's budgets: for long frames, and for small ones.
pub struct Budget {
    member: [Semaphore; 2],
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            member: [
                Semaphore::new(MEMBER_BYTES),
                Semaphore::new(MEMBER_SMALL_BYTES),
            ],
        }
    }
}

/// Permission to hold one body in memory; the bytes return to both budgets when dropped.
pub struct Grant<'a> {
    _member: SemaphorePermit<'a>,
    _process: SemaphorePermit<'static>,
}

impl Budget {
    /// Waits until `bytes` (what follows a frame's header) are granted: from the small frames'
    /// budgets when the frame is small, else from the long frames'; member first, then process,
    /// always in that order, so two frames never wait on each other.
    pub async fn grant(&self, bytes: usize) -> Grant<'_> {
        let (kind, most) = if bytes <= STREAM_SMALL_FRAME_MAX {
            (1, [MEMBER_SMALL_BYTES, PROCESS_SMALL_BYTES])
        } else {
            (0, [MEMBER_BYTES, PROCESS_BYTES])
        };
        let member = self.member[kind]
            .acquire_many(bytes.min(most[0]) as u32)
            .await
            .expect("the budget's semaphore is never closed");
        let process = PROCESS[kind]
            .acquire_many(bytes.min(most[1]) as u32)
            .await
            .expect("the budget's semaphore is never closed");
        Grant {
            _member: member,
            _process: process,
        }
    }

    /// Bytes of this member's budgets not granted now (both kinds).
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.member.iter().map(|s| s.available_permits()).sum()
    }
}
