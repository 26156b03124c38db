//! The two clocks the guard judges time by (rule 8): the device's, as the shell passes it in
//! with every input, and the server's, learned from each reply's `now`.
//!
//! Nothing here reads a clock. The guard only compares what it is given, and when either clock
//! is seen to jump it says by how much, so that the router can move every timer (orders' and
//! submissions') with it (each keeps its remaining wait).

use super::io::Event;
use crate::core::time::Millis;

/// A clock step back smaller than this is ordinary jitter between inputs, not a jump.
const CLOCK_JUMP_MS: u64 = 1000;

/// A change of the server-minus-device offset larger than this between two replies is the
/// device clock being changed, not network delay (ms).
const SERVER_CLOCK_JUMP_MS: i64 = 5000;

/// The device time of the latest input and the server's offset from it.
#[derive(Debug, Clone, Default)]
pub(super) struct Clock {
    last_now: Option<Millis>,
    /// Server clock minus device clock (ms), from the latest reply carrying `now`.
    server_offset: Option<i64>,
}

/// A clock jump seen: move every device-clock time by `by` ms and report `event`.
pub(super) struct Jump {
    pub(super) by: i64,
    pub(super) event: Event,
}

impl Clock {
    // ----- getters -----

    /// The server's clock at device time `now`: the device clock where no reply told it.
    pub(super) fn server_time(&self, now: Millis) -> Millis {
        shift(now, self.server_offset.unwrap_or(0))
    }

    /// A server time on the device clock.
    pub(super) fn to_local(&self, server: Millis) -> Millis {
        shift(server, -self.server_offset.unwrap_or(0))
    }

    // ----- handle_* -----

    /// Keeps timers honest when the wall clock steps back: each keeps its remaining wait.
    /// A step forward needs nothing: timers fire early, which only makes polling end sooner
    /// (pending), never starts anything.
    pub(super) fn handle_input_time(&mut self, now: Millis) -> Option<Jump> {
        let last = self.last_now.replace(now)?;
        if now.plus(CLOCK_JUMP_MS) >= last {
            return None;
        }
        let back = last.since(now);
        let by = i64::try_from(back).unwrap_or(i64::MAX);
        // The server's clock did not move: the offset grows by what the device lost, so the
        // next reply does not count this jump again.
        self.server_offset = self.server_offset.map(|o| o.saturating_add(by));
        Some(Jump {
            by: -by,
            event: Event::ClockJumped { back_ms: back },
        })
    }

    /// Rule 8: learns the server's clock from a reply. When the offset moved by more than
    /// network delay explains, the device clock was changed: every timer and deadline moves
    /// with it (`Jump::by`), so each keeps its remaining wait on the server's clock. The first
    /// offset only moves nothing; it is reported when it is more than jitter.
    pub(super) fn handle_server_now(
        &mut self,
        server_now: Option<Millis>,
        now: Millis,
    ) -> Option<Jump> {
        let server_now = server_now?;
        let offset = i64::try_from(server_now.0)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(now.0).unwrap_or(i64::MAX));
        match self.server_offset.replace(offset) {
            None => (offset.unsigned_abs() > CLOCK_JUMP_MS).then_some(Jump {
                by: 0,
                event: Event::ServerClock {
                    offset_ms: offset,
                    jump_ms: 0,
                },
            }),
            Some(old) => {
                // The device clock moved ahead by `jump` (behind when negative).
                let jump = old.saturating_sub(offset);
                (jump.abs() > SERVER_CLOCK_JUMP_MS).then_some(Jump {
                    by: jump,
                    event: Event::ServerClock {
                        offset_ms: offset,
                        jump_ms: jump,
                    },
                })
            }
        }
    }
}

/// `t + by` milliseconds, saturating at both ends.
pub(super) fn shift(t: Millis, by: i64) -> Millis {
    if by >= 0 {
        t.plus(by.unsigned_abs())
    } else {
        t.minus(by.unsigned_abs())
    }
}
