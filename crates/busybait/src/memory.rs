//! The sensor-wide memory cap over all sessions together.
//!
//! Each session has its own budget (enforced inside the sans-IO shell); this is the
//! cap over all of them, so that a thousand hostile sessions cannot do what one
//! cannot. Every session reports what it holds after each turn of its loop. Past the
//! cap, the session holding the most is told to fail (its shell dies of memory, as on
//! a device), and new connections are refused until the total is below the cap again.
//! Sessions report between calls into their state machine, so the total can pass the
//! cap by at most one session budget per runtime worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One session's share of the pool.
#[derive(Debug, Default)]
pub struct Member {
    used: AtomicUsize,
    /// Told to fail: notified once, and not chosen again.
    failing: AtomicBool,
    /// Wakes the session's task to fail its shell.
    pub fail: Notify,
}

/// What all sessions hold, against the cap.
#[derive(Debug)]
pub struct MemoryPool {
    cap: usize,
    total: AtomicUsize,
    members: Mutex<HashMap<u64, Arc<Member>>>,
    /// Sessions failed to stay under the cap.
    failed: AtomicUsize,
}

impl MemoryPool {
    /// A pool capped at `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            total: AtomicUsize::new(0),
            members: Mutex::new(HashMap::new()),
            failed: AtomicUsize::new(0),
        }
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes all sessions hold, as last reported.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Sessions failed so far to stay under the cap.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    /// Whether the cap is reached: new connections wait.
    pub fn is_full(&self) -> bool {
        self.total() >= self.cap
    }

    /// Adds session `conn` to the pool.
    pub fn join(&self, conn: u64) -> Arc<Member> {
        let member = Arc::new(Member::default());
        self.lock().insert(conn, member.clone());
        member
    }

    /// Takes session `conn` out of the pool (its memory is gone).
    pub fn leave(&self, conn: u64, member: &Member) {
        let used = member.used.swap(0, Ordering::Relaxed);
        self.total.fetch_sub(used, Ordering::Relaxed);
        self.lock().remove(&conn);
    }

    /// What `member` holds now; past the cap, the largest session is told to fail.
    pub fn report(&self, member: &Member, used: usize) {
        let before = member.used.swap(used, Ordering::Relaxed);
        if used >= before {
            self.total.fetch_add(used - before, Ordering::Relaxed);
        } else {
            self.total.fetch_sub(before - used, Ordering::Relaxed);
        }
        if self.total() > self.cap {
            self.fail_largest();
        }
    }

    /// Tells the session holding the most to fail, unless those already failing
    /// will bring the total under the cap once they are gone.
    fn fail_largest(&self) {
        let members = self.lock();
        let going: usize = members
            .values()
            .filter(|m| m.failing.load(Ordering::Relaxed))
            .map(|m| m.used.load(Ordering::Relaxed))
            .sum();
        if self.total().saturating_sub(going) <= self.cap {
            return;
        }
        let largest = members
            .values()
            .filter(|m| !m.failing.load(Ordering::Relaxed))
            .max_by_key(|m| m.used.load(Ordering::Relaxed));
        if let Some(m) = largest {
            if m.used.load(Ordering::Relaxed) > 0 {
                m.failing.store(true, Ordering::Relaxed);
                m.fail.notify_one();
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Member>>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_the_largest_session_is_failed_once_and_new_ones_wait() {
        let pool = MemoryPool::new(1000);
        let a = pool.join(1);
        let b = pool.join(2);
        let c = pool.join(3);
        pool.report(&a, 300);
        pool.report(&b, 500);
        assert!(!pool.is_full());
        assert_eq!(pool.failed(), 0);
        pool.report(&c, 400);
        assert_eq!(pool.total(), 1200);
        assert!(pool.is_full());
        assert!(b.failing.load(Ordering::Relaxed), "b holds the most");
        assert!(!a.failing.load(Ordering::Relaxed) && !c.failing.load(Ordering::Relaxed));
        // Still over, but b's end will bring it under: nobody else is failed.
        pool.report(&c, 450);
        assert_eq!(pool.failed(), 1);
        // Over even without b: the next largest is chosen, not b again.
        pool.report(&a, 900);
        assert!(a.failing.load(Ordering::Relaxed));
        assert!(!c.failing.load(Ordering::Relaxed));
        assert_eq!(pool.failed(), 2);
        pool.leave(1, &a);
        pool.report(&c, 300);
        pool.leave(2, &b);
        pool.leave(3, &c);
        assert_eq!(pool.total(), 0);
        assert!(!pool.is_full());
    }
}
