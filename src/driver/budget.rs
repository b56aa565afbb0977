//! In-flight bytes: how much memory the bodies of inbound stream frames may hold while they are
//! read. A body is read only once its length is granted, by its member's budget and by the
//! process's (one for all members); until then it waits in line, within its frame's deadline.
//! So N senders each claiming the longest frame cost at most the budgets, not N frames.

use once_cell::sync::Lazy;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Body bytes one member may be reading at once: two default-size push-pulls (each up to
/// `size` + 8 MiB). A longer frame takes the whole budget: it waits until it is alone.
pub const MEMBER_BYTES: usize = 16 << 20;
/// Body bytes all members of the process may be reading at once. A longer frame takes the
/// whole budget, so the process holds at most this or one frame.
pub const PROCESS_BYTES: usize = 64 << 20;

static PROCESS: Lazy<Semaphore> = Lazy::new(|| Semaphore::new(PROCESS_BYTES));

/// One member's budget.
pub struct Budget {
    member: Semaphore,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            member: Semaphore::new(MEMBER_BYTES),
        }
    }
}

/// Permission to hold one body in memory; the bytes return to both budgets when dropped.
pub struct Grant<'a> {
    _member: SemaphorePermit<'a>,
    _process: SemaphorePermit<'static>,
}

impl Budget {
    /// Waits until `bytes` are granted (member first, then process, always in that order, so
    /// two frames never wait on each other).
    pub async fn grant(&self, bytes: usize) -> Grant<'_> {
        let member = self
            .member
            .acquire_many(bytes.min(MEMBER_BYTES) as u32)
            .await
            .expect("the budget's semaphore is never closed");
        let process = PROCESS
            .acquire_many(bytes.min(PROCESS_BYTES) as u32)
            .await
            .expect("the budget's semaphore is never closed");
        Grant {
            _member: member,
            _process: process,
        }
    }
}
