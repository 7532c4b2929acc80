//! Throttles: how many tries a key (an account, an IP address, a mailbox) gets, and how long it
//! waits after that.
//!
//! Every try is counted *before* it is checked: the store reserves the try with one atomic
//! statement that also refuses it while the key is locked, and a try that then succeeds gives
//! its reservation back. So N parallel guesses can never test more than `limit` passwords or
//! codes, whatever their timing.
//!
//! Two shapes:
//! - **Consecutive failures** (`window_seconds: None`), for accounts and second factors
//!   (NIST SP 800-63B §5.2.2): failures count until a success or a password reset; from the
//!   `limit`-th on, each failure locks the key for a growing time (`lock_seconds` × how far past
//!   the limit, capped at `max_lock_seconds`), and at `hard_cap` consecutive failures the key
//!   stays locked until the password is reset.
//! - **Rate limits** (`window_seconds: Some(w)`), for IP addresses and mail senders: at most
//!   `limit` tries per window; the `limit`-th locks the key for `lock_seconds`.

/// A lock that only a password reset lifts (a time far in the future, in Unix seconds).
pub const UNTIL_RESET: i64 = 1 << 53;

/// The rule of one throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Tries allowed before the key locks.
    pub limit: i64,
    /// `Some(w)`: counts start over `w` seconds after a count began. `None`: consecutive
    /// failures, counted until cleared.
    pub window_seconds: Option<i64>,
    /// The first lock's length.
    pub lock_seconds: i64,
    /// The longest lock (growing locks stop growing here).
    pub max_lock_seconds: i64,
    /// Consecutive failures after which only a password reset unlocks (`None`: never).
    pub hard_cap: Option<i64>,
}

impl Rule {
    /// Consecutive failures with growing locks and a hard cap.
    pub fn consecutive(limit: i64, lock_seconds: i64, hard_cap: i64) -> Self {
        Rule {
            limit,
            window_seconds: None,
            lock_seconds,
            max_lock_seconds: 24 * 3600,
            hard_cap: Some(hard_cap),
        }
    }

    /// At most `limit` tries per `window_seconds`.
    pub fn per_window(limit: i64, window_seconds: i64) -> Self {
        Rule {
            limit,
            window_seconds: Some(window_seconds),
            lock_seconds: window_seconds,
            max_lock_seconds: window_seconds,
            hard_cap: None,
        }
    }

    /// How long the key locks once it has counted `tries` tries (`None`: not locked).
    /// [`UNTIL_RESET`] stands for "until a password reset".
    pub fn lock_after(&self, tries: i64) -> Option<i64> {
        if self.hard_cap.is_some_and(|cap| tries >= cap) {
            return Some(UNTIL_RESET);
        }
        if tries < self.limit {
            return None;
        }
        let grown = if self.window_seconds.is_some() {
            self.lock_seconds
        } else {
            self.lock_seconds.saturating_mul(tries - self.limit + 1)
        };
        Some(grown.min(self.max_lock_seconds))
    }

    /// The state after one more try at `now` from `before`, or `Err(until)` when the key is
    /// locked and the try is refused without being counted. This is the definition the store's
    /// atomic statement implements; its conformance test compares the two.
    pub fn reserve(&self, before: Option<State>, now: i64) -> Result<State, i64> {
        let Some(b) = before else {
            return Ok(State {
                tries: 1,
                started_at: now,
                locked_until: self.until(1, now),
            });
        };
        if let Some(until) = b.locked_until.filter(|u| *u > now) {
            return Err(until);
        }
        let restart = self.window_seconds.is_some_and(|w| b.started_at + w < now);
        let (tries, started_at) = if restart {
            (1, now)
        } else {
            (b.tries + 1, b.started_at)
        };
        Ok(State {
            tries,
            started_at,
            locked_until: self.until(tries, now),
        })
    }

    fn until(&self, tries: i64, now: i64) -> Option<i64> {
        self.lock_after(tries).map(|d| {
            if d == UNTIL_RESET {
                UNTIL_RESET
            } else {
                now + d
            }
        })
    }
}

/// A key's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub tries: i64,
    pub started_at: i64,
    pub locked_until: Option<i64>,
}

/// What a refused try tells the person: the whole minutes to wait, or that only a password
/// reset helps.
pub fn wait_text(locked_until: i64, now: i64) -> String {
    if locked_until >= UNTIL_RESET {
        return "until the password is reset".to_owned();
    }
    let minutes = (locked_until - now + 59).max(60) / 60;
    if minutes >= 120 {
        let hours = (minutes + 59) / 60;
        format!("{hours} hours")
    } else {
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn consecutive_failures_lock_longer_each_time_and_stop_at_the_cap() {
        let r = Rule::consecutive(10, 900, 100);
        assert_eq!(r.lock_after(9), None);
        assert_eq!(r.lock_after(10), Some(900));
        assert_eq!(r.lock_after(11), Some(1800));
        assert_eq!(r.lock_after(12), Some(2700));
        assert_eq!(r.lock_after(99), Some(90 * 900));
        let capped = Rule {
            max_lock_seconds: 3600,
            ..r
        };
        assert_eq!(capped.lock_after(50), Some(3600));
        assert_eq!(r.lock_after(100), Some(UNTIL_RESET));
    }

    #[test]
    fn a_locked_key_refuses_without_counting() {
        let r = Rule::consecutive(3, 60, 100);
        let mut s = None;
        for _ in 0..3 {
            s = Some(r.reserve(s, 1000).unwrap());
        }
        assert_eq!(s.unwrap().tries, 3);
        assert_eq!(r.reserve(s, 1000), Err(1060));
        assert_eq!(r.reserve(s, 1059), Err(1060));
        // After the lock, one more try; failing it locks for twice as long.
        let next = r.reserve(s, 1060).unwrap();
        assert_eq!((next.tries, next.locked_until), (4, Some(1060 + 120)));
    }

    #[test]
    fn rate_limits_start_over_after_the_window() {
        let r = Rule::per_window(2, 3600);
        let a = r.reserve(None, 0).unwrap();
        let b = r.reserve(Some(a), 10).unwrap();
        assert_eq!(b.locked_until, Some(3610));
        assert_eq!(r.reserve(Some(b), 3609), Err(3610));
        let c = r.reserve(Some(b), 3611).unwrap();
        assert_eq!((c.tries, c.started_at, c.locked_until), (1, 3611, None));
    }

    #[test]
    fn wait_texts() {
        assert_eq!(wait_text(1060, 1000), "1 minute");
        assert_eq!(wait_text(1000 + 900, 1000), "15 minutes");
        assert_eq!(wait_text(1000 + 5 * 3600, 1000), "5 hours");
        assert_eq!(wait_text(UNTIL_RESET, 1000), "until the password is reset");
    }

    proptest! {
        /// However the tries are timed, a consecutive rule never lets more than `limit` tries
        /// through before the first lock ends.
        #[test]
        fn never_more_than_limit_tries_inside_a_lock(limit in 1i64..20, steps in proptest::collection::vec(0i64..30, 1..200)) {
            let r = Rule::consecutive(limit, 600, 1000);
            let mut s = None;
            let mut now = 0;
            let mut allowed_before_first_lock_ends = 0;
            let mut first_lock: Option<i64> = None;
            for d in steps {
                now += d;
                if let Ok(n) = r.reserve(s, now) {
                    if first_lock.is_none_or(|u| now < u) {
                        allowed_before_first_lock_ends += 1;
                    }
                    if first_lock.is_none() {
                        first_lock = n.locked_until;
                    }
                    s = Some(n);
                }
            }
            prop_assert!(allowed_before_first_lock_ends <= limit);
        }
    }
}
