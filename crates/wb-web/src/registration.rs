//! Data access registration: the state of a user's access modules and tiers, computed by the
//! domain rules from what the store holds, and kept in sync (every grant and loss of a tier is
//! recorded in the audit trail).

use wb_domain::access::{
    self, AccessFacts, AccessModule, AccessPolicy, ModuleRecord, ModuleStatus,
};
use wb_domain::{AccessTier, EmailAddress};
use wb_store::UserRecord;

use crate::error::WebResult;
use crate::state::AppState;

impl AppState {
    pub fn access_policy(&self) -> AccessPolicy {
        AccessPolicy {
            expiry_days: self.config.access.expiry_days,
            code_of_conduct_versions: vec![wb_domain::conduct::CODE_OF_CONDUCT_VERSION],
            reminder_days: self.config.access.reminder_days.clone(),
        }
    }
}

/// Everything the pages need to know about one user's access.
#[derive(Debug, Clone)]
pub struct AccessState {
    pub records: Vec<ModuleRecord>,
    pub registered_email_eligible: bool,
    pub controlled_email_eligible: bool,
    pub tiers: Vec<AccessTier>,
    pub institution_name: String,
    pub now: i64,
    pub policy: AccessPolicy,
    pub disabled: bool,
    /// When the user asked an administrator to verify their identity, while that request is
    /// open (only with no identity provider configured, where that is the way to verify).
    pub identity_requested_at: Option<i64>,
}

impl AccessState {
    pub fn facts(&self) -> AccessFacts<'_> {
        AccessFacts {
            disabled: self.disabled,
            registered_email_eligible: self.registered_email_eligible,
            controlled_email_eligible: self.controlled_email_eligible,
            modules: &self.records,
        }
    }

    pub fn status(&self, module: AccessModule) -> ModuleStatus {
        let record = self.records.iter().find(|r| r.module == module);
        access::module_status(module, record, &self.policy, self.now)
    }

    pub fn is_compliant(&self, module: AccessModule) -> bool {
        self.status(module).is_compliant()
    }

    pub fn has_tier(&self, tier: AccessTier) -> bool {
        self.tiers.contains(&tier)
    }

    pub fn missing_for(&self, tier: AccessTier) -> Vec<AccessModule> {
        access::missing_for(tier, &self.facts(), &self.policy, self.now)
    }

    pub fn tier_expires_at(&self, tier: AccessTier) -> Option<i64> {
        access::tier_expires_at(tier, &self.facts(), &self.policy)
    }
}

/// Loads the user's access state and computes the tiers they hold at this moment. A pure
/// read: pages and checks call it on every request, so an expiry or a removed domain takes
/// effect at once, and opening a page writes nothing.
pub async fn load(state: &AppState, user: &UserRecord) -> WebResult<AccessState> {
    let now = state.now();
    let records = state.store.module_records(user.id).await?;
    let institution = state.store.institution(&user.institution).await?;
    let email = EmailAddress::parse(&user.contact_email).ok();
    let eligible = |tier| match (&institution, &email) {
        (Some(i), Some(e)) => i.check_email(e, tier).is_eligible(),
        _ => false,
    };
    let policy = state.access_policy();
    let identity_requested_at = if state.identity_providers.is_empty() {
        state.store.open_identity_request(user.id).await?
    } else {
        None
    };
    let mut s = AccessState {
        records,
        registered_email_eligible: eligible(AccessTier::Registered),
        controlled_email_eligible: eligible(AccessTier::Controlled),
        tiers: Vec::new(),
        institution_name: institution
            .map(|i| i.display_name)
            .unwrap_or_else(|| user.institution.clone()),
        now,
        policy,
        disabled: user.disabled,
        identity_requested_at,
    };
    s.tiers = access::granted_tiers(&s.facts(), &s.policy, now);
    Ok(s)
}

/// [`load`], then records the tiers in the store and audits each grant and loss since the
/// last record (`tier.granted`, `tier.lost`). Called after every change of a user's modules
/// and by the scheduled job (which records losses at expiry); concurrent calls record each
/// change once.
pub async fn sync(state: &AppState, user: &UserRecord) -> WebResult<AccessState> {
    let s = load(state, user).await?;
    let now = s.now;
    let (granted, lost) = state.store.set_user_tiers(user.id, &s.tiers, now).await?;
    for (tiers, action) in [(granted, "tier.granted"), (lost, "tier.lost")] {
        for t in tiers {
            state
                .store
                .audit(&wb_store::AuditEvent {
                    at: now,
                    actor_user_id: None,
                    actor: "system",
                    action,
                    target_user_id: Some(user.id),
                    detail: t.code(),
                    ip: None,
                })
                .await?;
        }
    }
    Ok(s)
}

/// Records something the user did to their own account in the audit trail.
pub async fn audit_user(
    state: &AppState,
    user: &UserRecord,
    action: &str,
    detail: &str,
    ip: &str,
) -> WebResult<()> {
    state
        .store
        .audit(&wb_store::AuditEvent {
            at: state.now(),
            actor_user_id: Some(user.id),
            actor: &format!("user:{}", user.username),
            action,
            target_user_id: Some(user.id),
            detail,
            ip: Some(ip),
        })
        .await?;
    Ok(())
}

/// Records a module change made by the user in the audit trail.
pub async fn audit_module(
    state: &AppState,
    user: &UserRecord,
    module: AccessModule,
    action: &str,
    ip: &str,
) -> WebResult<()> {
    audit_user(state, user, action, module.code(), ip).await
}
