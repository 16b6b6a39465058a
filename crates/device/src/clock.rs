//! Time, passed in: the sans-IO state machines never read a clock of their own, so
//! the same input and the same clocks give the same bytes.

use std::time::{Duration, Instant, SystemTime};

/// Both clocks, passed in: `mono` for deadlines, `wall` for timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time.
    pub mono: Instant,
    /// Wall-clock time.
    pub wall: SystemTime,
}

impl Now {
    /// The current time from the system clocks (for the edges; tests pass fakes).
    pub fn system() -> Self {
        Self {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// This time plus `d` on both clocks.
    pub fn after(self, d: Duration) -> Self {
        Self {
            mono: self.mono + d,
            wall: self.wall + d,
        }
    }
}
