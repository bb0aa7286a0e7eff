//! Throttled log lines for conditions that repeat many times a second while
//! they last (a broker outage, the connection cap): one line per kind per
//! window, and the next line says how many were folded into it, so an outage
//! does not flood stdout and the log pipeline behind it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct LogThrottle {
    window: Duration,
    // One entry per kind: kinds are a fixed, small set (librdkafka's error
    // codes, the server's conditions), so the map is bounded.
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LogThrottle {
    /// How long a kind of line stays quiet after it was logged.
    pub const WINDOW: Duration = Duration::from_secs(10);

    pub fn new(window: Duration) -> LogThrottle {
        LogThrottle {
            window,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(folded)` when a line of this kind is to be logged now, with the
    /// number suppressed since the last line of its kind; `None` to stay quiet.
    pub fn admit(&self, kind: &str, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match last.get_mut(kind) {
            Some((at, folded)) if now.saturating_duration_since(*at) < self.window => {
                *folded += 1;
                None
            }
            Some((at, folded)) => {
                *at = now;
                Some(std::mem::take(folded))
            }
            None => {
                last.insert(kind.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_error_is_logged_once_per_window_with_the_count_folded_in() {
        let t = LogThrottle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            t.admit("all brokers down", at(0)),
            Some(0),
            "first one logged"
        );
        assert_eq!(t.admit("all brokers down", at(1)), None);
        assert_eq!(t.admit("all brokers down", at(9)), None);
        // Another kind is not held back by the first.
        assert_eq!(t.admit("transport", at(9)), Some(0));
        assert_eq!(t.admit("all brokers down", at(10)), Some(2), "two folded");
        assert_eq!(t.admit("all brokers down", at(11)), None);
        assert_eq!(t.admit("all brokers down", at(25)), Some(1));
        assert_eq!(t.admit("transport", at(25)), Some(0));
    }
}
