//! Scheduled work inside the server: expiry reminders, tier records and session clean-up.
//!
//! [`run_scheduler`] is started by [`crate::run`] (what `wb serve` runs). Every
//! `jobs.interval_seconds` it takes the database lease of the job: when several servers share
//! one database, only the node holding the lease does the work, and another takes over when a
//! node stops renewing it. [`access_reminders`] is safe to run any number of times anyway:
//! every reminder is recorded before it is sent (one row per user, tier, expiry date and
//! threshold), so nothing is sent twice.

use std::time::Duration;

use wb_domain::AccessTier;
use wb_domain::access;

use crate::error::WebResult;
use crate::registration;
use crate::state::AppState;

/// The lease every server competes for.
pub const JOB: &str = "access-reminders";

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReminderReport {
    pub users: usize,
    pub sent: usize,
}

/// For every active user: record the tiers they hold now (a loss at expiry is audited here),
/// and for each tier they hold send the reminder that is due (30, 15, 7 and 1 days before the
/// tier's earliest expiry, by default).
pub async fn access_reminders(state: &AppState) -> WebResult<ReminderReport> {
    let mut report = ReminderReport::default();
    let now = state.now();
    for id in state.store.active_user_ids().await? {
        let Some(user) = state.store.user_by_id(id).await? else {
            continue;
        };
        report.users += 1;
        let a = registration::sync(state, &user).await?;
        for tier in [AccessTier::Registered, AccessTier::Controlled] {
            if !a.has_tier(tier) {
                continue;
            }
            let Some(expires_at) = a.tier_expires_at(tier) else {
                continue;
            };
            let sent = state.store.reminders_sent(id, tier, expires_at).await?;
            let Some(days) = access::reminder_due(expires_at, now, &sent, &a.policy) else {
                continue;
            };
            if !state
                .store
                .record_reminder(id, tier, expires_at, days, now)
                .await?
            {
                continue;
            }
            let renew: Vec<&str> = access::AccessModule::REGISTRATION_ORDER
                .iter()
                .filter(|m| m.required_for(tier) && m.expires())
                .map(|m| m.label())
                .collect();
            let mail = wb_mail::messages::access_expiry_reminder(
                &user.contact_email,
                &wb_mail::messages::AccessExpiryReminder {
                    given_name: &user.given_name,
                    tier: tier.label(),
                    expires_on: &state.date(expires_at),
                    requirements_url: &state.link("/data-access-requirements"),
                    renew: &renew,
                    support_email: &state.config.accounts.support_email,
                },
            );
            match state.mailer.send(&mail).await {
                Ok(()) => report.sent += 1,
                Err(e) => tracing::error!(error = %e, user = id, "expiry reminder not sent"),
            }
        }
    }
    Ok(report)
}

/// One turn of the scheduler: if this node holds (or takes) the lease, the reminders and the
/// session clean-up. `Ok(None)`: another node holds the lease.
pub async fn tick(state: &AppState, holder: &str) -> WebResult<Option<ReminderReport>> {
    let interval = state.config.jobs.interval_seconds;
    // A lease outlives two missed turns, so a slow run does not hand the job over.
    if !state
        .store
        .take_lease(JOB, holder, state.now(), interval * 3)
        .await?
    {
        return Ok(None);
    }
    let report = access_reminders(state).await?;
    state.store.purge_expired_sessions(state.now()).await?;
    Ok(Some(report))
}

/// Runs [`tick`] every `jobs.interval_seconds` (the first one interval after the start) until
/// the task is dropped. Errors are logged and the next turn tries again.
pub async fn run_scheduler(state: AppState) {
    let holder = wb_auth::random_token();
    let period = Duration::from_secs(state.config.jobs.interval_seconds.max(1) as u64);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match tick(&state, &holder).await {
            Ok(Some(r)) => tracing::info!(users = r.users, sent = r.sent, "access reminders"),
            Ok(None) => tracing::debug!("another node holds the job lease"),
            Err(e) => tracing::error!(error = %e, "scheduled job failed"),
        }
    }
}
