//! Which throttles guard what, and with which rule (`wb_domain::throttle` has the rules, the
//! store reserves tries atomically).
//!
//! - `account:<user id>` (or `account:name:<name>` for names that match no account, so a lock
//!   looks the same either way): consecutive failed sign-ins, growing locks, and a hard cap
//!   after which only a password reset unlocks.
//! - `ip:<address>`: failed sign-ins from one client address per window.
//! - `second-factor:<user id>`: wrong 2-step codes and recovery codes, like the account.
//! - `mail-ip:<address>`, `mail-to:<address>`: e-mails that visitors who are not signed in can
//!   make the workbench send (sign-up, institution requests), per hour.
//! - `reset:<user id>`: password reset links, per hour.

use wb_domain::throttle::{Rule, State};
use wb_store::Try;

use crate::error::WebResult;
use crate::state::AppState;

impl AppState {
    /// Consecutive failed sign-ins of one account, and wrong second-factor codes.
    pub fn account_rule(&self) -> Rule {
        let t = &self.config.throttle;
        Rule::consecutive(
            t.account_failures,
            t.lock_minutes * 60,
            t.max_consecutive_failures,
        )
    }

    /// Failed sign-ins from one client address.
    pub fn ip_rule(&self) -> Rule {
        let t = &self.config.throttle;
        Rule {
            limit: t.ip_failures,
            window_seconds: Some(t.window_minutes * 60),
            lock_seconds: t.lock_minutes * 60,
            max_lock_seconds: t.lock_minutes * 60,
            hard_cap: None,
        }
    }
}

/// Reserves one try on each key in order. When one is refused, the reservations made before
/// it are given back and the answer is the time the lock ends.
pub async fn reserve_all(
    state: &AppState,
    keys: &[(&str, Rule)],
    now: i64,
) -> WebResult<Result<Vec<State>, i64>> {
    let mut got: Vec<State> = Vec::new();
    for (i, (key, rule)) in keys.iter().enumerate() {
        match state.store.throttle_reserve(key, rule, now).await? {
            Try::Allowed(s) => got.push(s),
            Try::Refused { until } => {
                for (k, r) in &keys[..i] {
                    state.store.throttle_release(k, r).await?;
                }
                return Ok(Err(until));
            }
        }
    }
    Ok(Ok(got))
}

/// Whether a visitor at `ip` may make the workbench send one more e-mail to `address` now
/// (sign-up, institution requests). `Err(until)` when either limit is reached.
pub async fn mail_allowed(state: &AppState, ip: &str, address: &str) -> WebResult<Result<(), i64>> {
    let t = &state.config.throttle;
    let per_ip = Rule::per_window(t.mail_per_ip_per_hour, 3600);
    let per_address = Rule::per_window(t.mail_per_address_per_hour, 3600);
    let ip_key = format!("mail-ip:{ip}");
    let to_key = format!("mail-to:{}", address.to_lowercase());
    Ok(reserve_all(
        state,
        &[(&ip_key, per_ip), (&to_key, per_address)],
        state.now(),
    )
    .await?
    .map(|_| ()))
}
