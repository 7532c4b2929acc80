//! Scheduled work inside the server: expiry reminders and tier re-computation.
//!
//! [`access_reminders`] is safe to run any number of times: every reminder sent is recorded
//! first (`access_reminders` has one row per user, tier, expiry date and threshold), so a
//! restart or a second server never sends the same reminder twice.

use wb_domain::AccessTier;
use wb_domain::access;

use crate::error::WebResult;
use crate::registration;
use crate::state::AppState;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReminderReport {
    pub users: usize,
    pub sent: usize,
}

/// For every active user and tier they hold: send the reminder that is due (30, 15, 7 and 1
/// days before the tier's earliest expiry, by default). Loading each user's access also
/// records tiers lost at expiry.
pub async fn access_reminders(state: &AppState) -> WebResult<ReminderReport> {
    let mut report = ReminderReport::default();
    let now = state.now();
    for id in state.store.active_user_ids().await? {
        let Some(user) = state.store.user_by_id(id).await? else {
            continue;
        };
        report.users += 1;
        let a = registration::load(state, &user).await?;
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
            let mail = wb_mail::OutgoingEmail {
                to: user.contact_email.clone(),
                subject: format!(
                    "Your {} access expires on {}",
                    tier.label(),
                    state.date(expires_at)
                ),
                text: format!(
                    "Hello {},\n\nYour {} access to the Researcher Workbench expires on {}.\nTo keep it, renew what is due on your Data Access Requirements page:\n{}\n\n{}\n\nYour workspaces and work are kept while access lapses, but you cannot\nopen them until you renew.\n",
                    user.given_name,
                    tier.label(),
                    state.date(expires_at),
                    state.link("/data-access-requirements"),
                    renew
                        .iter()
                        .map(|r| format!("- {r}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                html: None,
            };
            match state.mailer.send(&mail).await {
                Ok(()) => report.sent += 1,
                Err(e) => tracing::error!(error = %e, user = id, "expiry reminder not sent"),
            }
        }
    }
    Ok(report)
}
