//! `wb admin …`: institutions and institution requests (the admin web console comes later).

/// Prints one line with every control and text-direction character escaped: what visitors
/// typed (names, reasons) must not run escape sequences on an administrator's terminal.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", wb_domain::text::escape_for_terminal(&format!($($arg)*)))
    };
}

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use wb_domain::{
    AccessTier, AgreementType, Institution, MembershipRequirement, OrganizationType,
    TierRequirement,
};
use wb_store::Store;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Institutions with data use agreements.
    Institution {
        #[command(subcommand)]
        command: InstitutionCommand,
    },
    /// Requests sent with "Don't see your institution listed?".
    InstitutionRequests,
    /// Open requests for identity verification by an administrator (made on "Verify your
    /// identity" when no identity provider is configured); `resolve` completes one.
    IdentityRequests {
        #[command(subcommand)]
        command: Option<IdentityRequestsCommand>,
    },
    /// Print a course's question bank with the correct answers (for course reviewers, and
    /// for the browser tests), as text or JSON.
    TrainingBank {
        /// `rt` (Responsible Conduct of Research) or `ct` (Controlled Tier).
        #[arg(long)]
        course: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a billing account (an owner, members, an optional budget in dollars).
    BillingAccount {
        #[arg(long)]
        name: String,
        /// The owner's username.
        #[arg(long)]
        owner: String,
        /// Other members' usernames, comma-separated.
        #[arg(long, value_delimiter = ',')]
        members: Vec<String>,
        /// Budget in dollars, e.g. 1500 or 1500.50.
        #[arg(long)]
        budget: Option<String>,
    },
    /// Open requests for a Resource Access Board review of a research purpose.
    ReviewRequests,
    /// A user's credits: show the ledger, or grant extra credits (an administrator's override).
    Credits {
        username: String,
        /// Dollars to grant, e.g. 200 or 200.50.
        #[arg(long, requires = "note")]
        grant: Option<String>,
        /// Why (recorded in the ledger and the audit trail); required with --grant.
        #[arg(long)]
        note: Option<String>,
    },
    /// Researchers' accounts and access modules.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
pub enum CdrCommand {
    /// Register a dataset version that workspaces of its tier can use.
    Register {
        /// The name users see, e.g. "Controlled Tier Dataset v8".
        #[arg(long)]
        name: String,
        /// registered or controlled.
        #[arg(long)]
        tier: String,
        /// Make it the tier's default (preselected for new workspaces).
        #[arg(long)]
        default: bool,
        /// Where its data lives (a generated or imported CDR directory).
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
    },
    /// List the registered dataset versions.
    List,
    /// Generate a deterministic synthetic CDR (OMOP CDM v5.4 Parquet, vocabulary, index).
    Generate(crate::cdr::GenerateArgs),
    /// Import a real OMOP CDM export (CSV or Parquet, e.g. an Athena vocabulary download plus
    /// CDM tables), validated; nothing is visible unless all of it is valid.
    Import {
        /// The export's directory.
        #[arg(long)]
        from: std::path::PathBuf,
        /// The CDR directory to create.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Replace `--out` if it exists (the old CDR stays until the new one is complete).
        #[arg(long)]
        replace: bool,
        /// The latest event date accepted (default: today), YYYY-MM-DD.
        #[arg(long)]
        max_date: Option<String>,
    },
    /// Rebuild a CDR's person index (bitmaps and rollups) from its Parquet tables.
    Index {
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// Search a CDR's concepts by code, name or synonym, ranked by participant count.
    Search(crate::cdr::SearchArgs),
    /// Show a concept with its parents and children and their participant counts.
    Browse {
        #[arg(long)]
        dir: std::path::PathBuf,
        concept_id: i64,
    },
    /// Time the engine on a CDR (used by benches/run): index load, counts, searches, and the
    /// cohort builder's full answers for the benchmark's definitions (JSON on stdout).
    Bench {
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Warm runs per measurement.
        #[arg(long, default_value_t = 30)]
        runs: usize,
    },
}

impl CdrCommand {
    /// Whether the command works on the registry of dataset versions in the database.
    pub fn needs_database(&self) -> bool {
        matches!(self, CdrCommand::Register { .. } | CdrCommand::List)
    }
}

pub async fn run_cdr(store: &Store, command: CdrCommand) -> Result<()> {
    let now = chrono::Utc::now().timestamp();
    match command {
        other @ (CdrCommand::Generate(_)
        | CdrCommand::Import { .. }
        | CdrCommand::Index { .. }
        | CdrCommand::Search(_)
        | CdrCommand::Browse { .. }
        | CdrCommand::Bench { .. }) => return crate::cdr::run(other),
        CdrCommand::Register {
            name,
            tier,
            default,
            data_dir,
        } => {
            let Some(t) = AccessTier::from_code(&tier) else {
                bail!("--tier '{tier}' is not one of: registered, controlled");
            };
            anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
            if let Err(m) = wb_domain::text::check(&name, wb_domain::text::Kind::Line) {
                bail!("--name: {m}");
            }
            if let Some(d) = &data_dir {
                anyhow::ensure!(d.is_dir(), "--data-dir {} is not a directory", d.display());
            }
            let dir = data_dir.map(|d| d.display().to_string());
            let id = store
                .register_cdr_version(name.trim(), t.code(), default, dir.as_deref(), now)
                .await
                .map_err(|e| match e {
                    wb_store::StoreError::Conflict(_) => {
                        anyhow::anyhow!("a dataset version named '{}' exists already", name.trim())
                    }
                    other => other.into(),
                })?;
            say!(
                "Registered #{id} '{}' for the {}{}.",
                name.trim(),
                t.label(),
                if default { " (default)" } else { "" }
            );
        }
        CdrCommand::List => {
            for t in AccessTier::ALL {
                for v in store.cdr_versions(t.code()).await? {
                    say!(
                        "#{} {:<36} {:<16} {}{}",
                        v.id,
                        v.name,
                        t.label(),
                        if v.is_default { "default " } else { "" },
                        v.data_dir.unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Show a user's access modules, tiers and recent audit events.
    Show { username: String },
    /// Verify a user's identity manually (when no identity provider is configured).
    VerifyIdentity {
        username: String,
        /// Why and how the identity was checked; recorded in the audit trail.
        #[arg(long)]
        reason: String,
    },
    /// Bypass an access module for a user (or clear the bypass with --clear).
    Bypass {
        username: String,
        /// two_factor, identity, rt_training, ct_training, code_of_conduct, profile_confirmation
        #[arg(long)]
        module: String,
        #[arg(long, required_unless_present = "clear")]
        reason: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Remove a user's 2-step verification after a lost device; they enrol again.
    Reset2fa {
        username: String,
        #[arg(long)]
        reason: String,
    },
    /// Disable an account (ends its sessions) or enable it again with --enable.
    Disable {
        username: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        enable: bool,
    },
}

#[derive(Subcommand)]
pub enum IdentityRequestsCommand {
    /// List the open requests (the default).
    List,
    /// The identity was checked: complete the user's identity module and close the request.
    Resolve {
        username: String,
        /// Why and how the identity was checked; recorded in the audit trail.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum InstitutionCommand {
    /// List every institution and its agreement.
    List,
    /// Create an institution, or replace an existing one with the same short name.
    Set(Box<InstitutionArgs>),
    /// Delete an institution that has no users.
    Remove { short_name: String },
}

#[derive(Args)]
pub struct InstitutionArgs {
    /// Unique id: lower-case letters, digits, '-' and '_'.
    #[arg(long)]
    short_name: String,
    /// The name users see.
    #[arg(long)]
    name: String,
    /// academic, educational, health_center, industry or other.
    #[arg(long = "type", default_value = "academic")]
    organization_type: String,
    /// Required with --type other.
    #[arg(long)]
    type_other: Option<String>,
    /// master (any address at --domains) or restricted (only --addresses).
    #[arg(long, default_value = "master")]
    agreement: String,
    /// Registered Tier e-mail domains (master agreements), comma-separated.
    #[arg(long, value_delimiter = ',')]
    domains: Vec<String>,
    /// Registered Tier e-mail addresses (restricted agreements), comma-separated.
    #[arg(long, value_delimiter = ',')]
    addresses: Vec<String>,
    /// Also grant Controlled Tier eligibility; with no --ct-domains/--ct-addresses the
    /// Registered Tier lists are used.
    #[arg(long)]
    controlled: bool,
    #[arg(long, value_delimiter = ',')]
    ct_domains: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    ct_addresses: Vec<String>,
    /// Where refused users can ask for access.
    #[arg(long)]
    request_access_url: Option<String>,
}

fn build(a: InstitutionArgs) -> Result<Institution> {
    let Some(organization_type) = OrganizationType::from_code(&a.organization_type) else {
        bail!(
            "--type '{}' is not one of: {}",
            a.organization_type,
            OrganizationType::ALL
                .iter()
                .map(|o| o.code())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let Some(agreement_type) = AgreementType::from_code(&a.agreement) else {
        bail!(
            "--agreement '{}' is not one of: master, restricted",
            a.agreement
        );
    };
    let requirement = agreement_type.default_requirement();
    let mut tiers = vec![TierRequirement::new(
        AccessTier::Registered,
        requirement,
        &a.domains,
        &a.addresses,
    )];
    let ct_listed = !a.ct_domains.is_empty() || !a.ct_addresses.is_empty();
    if a.controlled || ct_listed {
        let (d, ad) = if ct_listed {
            (&a.ct_domains, &a.ct_addresses)
        } else {
            (&a.domains, &a.addresses)
        };
        let req = if !d.is_empty() {
            MembershipRequirement::Domains
        } else {
            MembershipRequirement::Addresses
        };
        tiers.push(TierRequirement::new(AccessTier::Controlled, req, d, ad));
    }
    let inst = Institution {
        short_name: a.short_name,
        display_name: a.name,
        organization_type,
        organization_type_other: a.type_other,
        agreement_type,
        tiers,
        request_access_url: a.request_access_url,
    };
    if let Err(errors) = inst.validate() {
        bail!("the institution is not valid: {errors}");
    }
    Ok(inst)
}

/// "1500", "1500.5" or "1500.50" dollars as cents.
fn parse_dollars(s: &str) -> Result<i64> {
    let t = s.trim().trim_start_matches('$');
    let (whole, frac) = t.split_once('.').unwrap_or((t, "0"));
    let ok = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac.len() <= 2
        && frac.chars().all(|c| c.is_ascii_digit());
    anyhow::ensure!(
        ok,
        "'{s}' is not an amount in dollars, e.g. 1500 or 1500.50"
    );
    let cents = format!("{frac:0<2}").parse::<i64>()?;
    Ok(whole.parse::<i64>()? * 100 + cents)
}

async fn user(store: &Store, username: &str) -> Result<wb_store::UserRecord> {
    match store
        .user_by_username(&username.to_ascii_lowercase())
        .await?
    {
        Some(u) => Ok(u),
        None => bail!("there is no user '{username}'"),
    }
}

async fn audit(store: &Store, now: i64, action: &str, target: i64, detail: &str) -> Result<()> {
    store
        .audit(&wb_store::AuditEvent {
            at: now,
            actor_user_id: None,
            actor: "admin-cli",
            action,
            target_user_id: Some(target),
            detail,
            ip: None,
        })
        .await?;
    Ok(())
}

/// An administrator checked the user's identity: the identity module is completed (with a
/// manual identity link) and any open request is closed, in one store call; the tiers follow
/// from the module on the user's next request and in the scheduled job, as for every admin
/// module change.
async fn verify_identity(
    store: &Store,
    u: &wb_store::UserRecord,
    reason: &str,
    now: i64,
) -> Result<()> {
    anyhow::ensure!(
        !reason.trim().is_empty(),
        "--reason must say how the identity was checked"
    );
    let resolved = store
        .verify_identity_manually(u.id, "admin-cli", now)
        .await?;
    audit(store, now, "identity.verified_manually", u.id, reason).await?;
    say!(
        "Verified the identity of {}{}.",
        u.username,
        if resolved {
            " and closed their request"
        } else {
            ""
        }
    );
    Ok(())
}

fn utc(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

async fn run_identity_requests(
    store: &Store,
    command: IdentityRequestsCommand,
    now: i64,
) -> Result<()> {
    match command {
        IdentityRequestsCommand::List => {
            let open = store.open_identity_requests().await?;
            if open.is_empty() {
                say!("No open identity verification requests.");
            }
            for r in open {
                say!(
                    "{:<24} {} {} <{}>  {}  requested {}",
                    r.username,
                    r.given_name,
                    r.family_name,
                    r.contact_email,
                    r.institution,
                    utc(r.requested_at)
                );
            }
        }
        IdentityRequestsCommand::Resolve { username, reason } => {
            let u = user(store, &username).await?;
            if store.open_identity_request(u.id).await?.is_none() {
                bail!(
                    "{} has no open identity verification request (to verify anyway: wb admin \
                     user verify-identity)",
                    u.username
                );
            }
            verify_identity(store, &u, &reason, now).await?;
        }
    }
    Ok(())
}

async fn run_user(store: &Store, command: UserCommand, now: i64) -> Result<()> {
    use wb_domain::access::AccessModule;
    match command {
        UserCommand::Show { username } => {
            let u = user(store, &username).await?;
            say!(
                "{} {} <{}>  institution: {}{}",
                u.given_name,
                u.family_name,
                u.contact_email,
                u.institution,
                if u.disabled { "  DISABLED" } else { "" }
            );
            let records = store.module_records(u.id).await?;
            let policy = wb_domain::access::AccessPolicy::default();
            for m in AccessModule::REGISTRATION_ORDER {
                let status = wb_domain::access::module_status(
                    *m,
                    records.iter().find(|r| r.module == *m),
                    &policy,
                    now,
                );
                say!("  {:<22} {:?}", m.code(), status);
            }
            let tiers = store.user_tiers(u.id).await?;
            say!(
                "  tiers: {}",
                tiers
                    .iter()
                    .map(|t| t.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for e in store.audit_for_user(u.id).await?.iter().rev().take(10) {
                say!("  {}  {}  {}  {}", e.at, e.actor, e.action, e.detail);
            }
        }
        UserCommand::VerifyIdentity { username, reason } => {
            let u = user(store, &username).await?;
            verify_identity(store, &u, &reason, now).await?;
        }
        UserCommand::Bypass {
            username,
            module,
            reason,
            clear,
        } => {
            let u = user(store, &username).await?;
            let Some(m) = AccessModule::from_code(&module) else {
                bail!(
                    "--module '{module}' is not one of: {}",
                    AccessModule::ALL
                        .iter()
                        .map(|m| m.code())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            if clear {
                store.set_module_bypass(u.id, m, None, now).await?;
                audit(store, now, "module.bypass_cleared", u.id, m.code()).await?;
                say!("Cleared the bypass of {} for {}.", m.code(), u.username);
            } else {
                let reason = reason.unwrap_or_default();
                anyhow::ensure!(!reason.trim().is_empty(), "--reason must not be empty");
                store.set_module_bypass(u.id, m, Some(&reason), now).await?;
                audit(
                    store,
                    now,
                    "module.bypassed",
                    u.id,
                    &format!("{}: {reason}", m.code()),
                )
                .await?;
                say!("Bypassed {} for {}.", m.code(), u.username);
            }
        }
        UserCommand::Reset2fa { username, reason } => {
            let u = user(store, &username).await?;
            store.reset_totp(u.id, now).await?;
            store.delete_user_sessions(u.id, None).await?;
            audit(store, now, "two_factor.reset", u.id, &reason).await?;
            say!(
                "Reset 2-step verification for {}; their sessions were ended.",
                u.username
            );
        }
        UserCommand::Disable {
            username,
            reason,
            enable,
        } => {
            let u = user(store, &username).await?;
            store.set_disabled(u.id, !enable).await?;
            audit(
                store,
                now,
                if enable {
                    "user.enabled"
                } else {
                    "user.disabled"
                },
                u.id,
                &reason,
            )
            .await?;
            say!(
                "{} {}.",
                if enable { "Enabled" } else { "Disabled" },
                u.username
            );
        }
    }
    Ok(())
}

pub async fn run(store: &Store, command: AdminCommand) -> Result<()> {
    let now = chrono::Utc::now().timestamp();
    match command {
        AdminCommand::User { command } => run_user(store, command, now).await?,
        AdminCommand::IdentityRequests { command } => {
            run_identity_requests(store, command.unwrap_or(IdentityRequestsCommand::List), now)
                .await?
        }
        AdminCommand::BillingAccount {
            name,
            owner,
            members,
            budget,
        } => {
            anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
            if let Err(m) = wb_domain::text::check(&name, wb_domain::text::Kind::Line) {
                bail!("--name: {m}");
            }
            let owner = user(store, &owner).await?;
            let mut ids = Vec::new();
            for m in &members {
                ids.push(user(store, m).await?.id);
            }
            let budget_cents = match budget {
                None => None,
                Some(b) => Some(parse_dollars(&b)?),
            };
            let id = store
                .create_billing_account(name.trim(), owner.id, budget_cents, &ids, now)
                .await?;
            audit(store, now, "billing_account.created", owner.id, name.trim()).await?;
            say!(
                "Created billing account #{id} '{}' owned by {}.",
                name.trim(),
                owner.username
            );
        }
        AdminCommand::Credits {
            username,
            grant,
            note,
        } => {
            let u = user(store, &username).await?;
            store
                .ensure_initial_credits(
                    u.id,
                    wb_domain::credits::DEFAULT_INITIAL_CREDITS_CENTS,
                    now,
                )
                .await?;
            if let Some(g) = grant {
                let cents = parse_dollars(&g)?;
                let note = note.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
                    anyhow::anyhow!("--note must say why the credits are granted")
                })?;
                let entry = wb_domain::credits::LedgerEntry {
                    kind: wb_domain::credits::EntryKind::Grant,
                    cents,
                    at: now,
                    workspace: None,
                    note: note.clone(),
                };
                store
                    .append_ledger(
                        &wb_store::NewLedgerEntry {
                            user_id: u.id,
                            kind: "grant",
                            cents,
                            at: now,
                            workspace_id: None,
                            note: &note,
                        },
                        |rows| {
                            let current: Vec<_> =
                                rows.iter().filter_map(wb_store::LedgerRow::entry).collect();
                            wb_domain::credits::validate_entry(&entry, &current)
                                .map_err(|e| e.to_string())
                        },
                    )
                    .await?;
                audit(
                    store,
                    now,
                    "credits.granted",
                    u.id,
                    &format!("{cents} cents: {note}"),
                )
                .await?;
            }
            let rows = store.ledger(u.id).await?;
            for r in &rows {
                say!(
                    "{}  {:<13} {:>12}  {}",
                    r.at,
                    r.kind,
                    wb_domain::credits::format_dollars(r.cents),
                    r.note
                );
            }
            let entries: Vec<_> = rows.iter().filter_map(wb_store::LedgerRow::entry).collect();
            say!(
                "balance: {}",
                wb_domain::credits::format_dollars(wb_domain::credits::balance_cents(&entries))
            );
        }
        AdminCommand::ReviewRequests => {
            let open = store.open_review_requests().await?;
            if open.is_empty() {
                say!("No open review requests.");
            }
            for (id, ws, at) in open {
                let w = store.workspace(ws).await?;
                let when = chrono::DateTime::from_timestamp(at, 0)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                match w {
                    Some(w) => say!("#{id} {when} {} ({})", w.name, w.namespace),
                    None => say!("#{id} {when} workspace {ws}"),
                }
            }
        }
        AdminCommand::TrainingBank { course, json } => {
            let Some(c) = wb_domain::training::course(&course) else {
                bail!("--course '{course}' is not one of: rt, ct");
            };
            if json {
                let bank: Vec<_> = c
                    .bank
                    .iter()
                    .map(|q| {
                        serde_json::json!({
                            "id": q.id, "module": q.module, "prompt": q.prompt,
                            "options": q.options, "correct": q.correct,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&bank)?);
            } else {
                for q in c.bank {
                    say!("[{}] {}", q.id, q.prompt);
                    for (i, o) in q.options.iter().enumerate() {
                        say!("  {} {}", if i == q.correct { "*" } else { " " }, o);
                    }
                }
            }
        }
        AdminCommand::Institution { command } => match command {
            InstitutionCommand::List => {
                for i in store.institutions().await? {
                    say!(
                        "{}  {}  ({}, {})",
                        i.short_name,
                        i.display_name,
                        i.organization_type.code(),
                        i.agreement_type.code()
                    );
                    for t in &i.tiers {
                        let list = match t.requirement {
                            MembershipRequirement::Domains => t
                                .email_domains
                                .iter()
                                .map(|d| format!("@{d}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            MembershipRequirement::Addresses => t.email_addresses.join(", "),
                            MembershipRequirement::NoAccess => "no access".into(),
                        };
                        say!("    {}: {}", t.tier.label(), list);
                    }
                }
            }
            InstitutionCommand::Set(args) => {
                let inst = build(*args)?;
                let existed = store.institution(&inst.short_name).await?.is_some();
                store.upsert_institution(&inst, now).await?;
                store
                    .audit(&wb_store::AuditEvent {
                        at: now,
                        actor_user_id: None,
                        actor: "admin-cli",
                        action: if existed {
                            "institution.updated"
                        } else {
                            "institution.created"
                        },
                        target_user_id: None,
                        detail: &inst.short_name,
                        ip: None,
                    })
                    .await?;
                say!(
                    "{} {}.",
                    if existed { "Updated" } else { "Created" },
                    inst.display_name
                );
            }
            InstitutionCommand::Remove { short_name } => {
                store.delete_institution(&short_name).await?;
                say!("Removed {short_name}.");
            }
        },
        AdminCommand::InstitutionRequests => {
            let all = store.institution_requests().await?;
            if all.is_empty() {
                say!("No requests.");
            }
            for r in all {
                let when = chrono::DateTime::from_timestamp(r.created_at, 0)
                    .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default();
                say!(
                    "#{} [{}] {}: {} <{}>, {}",
                    r.id,
                    r.status,
                    when,
                    r.contact_name,
                    r.contact_email,
                    r.institution_name
                );
                for line in r.reason.lines() {
                    say!("    {line}");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: AdminCommand,
    }

    fn parse(args: &[&str]) -> Result<Institution> {
        let cli = Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied()))?;
        match cli.command {
            AdminCommand::Institution {
                command: InstitutionCommand::Set(a),
            } => build(*a),
            _ => bail!("not a set command"),
        }
    }

    fn admin(args: &[&str]) -> AdminCommand {
        Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    /// A user of the demo institution Northfield, created as sign-up does.
    async fn ada(store: &Store) -> i64 {
        use wb_domain::signup::{Affiliation, Step2Input, validate_step2};
        wb_web::demo::load_if_empty(store, 1).await.unwrap();
        let affiliation = Affiliation {
            institution: "northfield".into(),
            contact_email: wb_domain::EmailAddress::parse("ada@northfield.example").unwrap(),
            role: wb_domain::choices::Role::GraduateTrainee,
            role_other: None,
        };
        let details = validate_step2(
            &Step2Input {
                username: "ada.l".into(),
                given_name: "Ada".into(),
                family_name: "Lindqvist".into(),
                street1: "1 College Way".into(),
                city: "Northfield".into(),
                state: "MN".into(),
                zip: "55057".into(),
                country: "United States".into(),
                research_background: "Kidney disease.".into(),
                discovery: vec!["colleagues".into()],
                ..Default::default()
            },
            2026,
        )
        .unwrap();
        store
            .create_user(&wb_store::NewUser {
                affiliation: &affiliation,
                details: &details,
                password_hash: "$argon2id$test",
                temporary_password_expires_at: 10_000,
                terms_version: 1,
                terms_accepted_at: 1,
                now: 1,
            })
            .await
            .unwrap()
    }

    async fn identity_requests_list_and_resolve(store: Store) {
        use wb_domain::access::AccessModule;
        let id = ada(&store).await;
        run(&store, admin(&["identity-requests"])).await.unwrap();
        store.request_identity_verification(id, 100).await.unwrap();
        run(&store, admin(&["identity-requests", "list"]))
            .await
            .unwrap();
        assert!(
            Cli::try_parse_from(["admin", "identity-requests", "resolve", "ada.l"]).is_err(),
            "resolving needs --reason"
        );
        run(
            &store,
            admin(&[
                "identity-requests",
                "resolve",
                "ada.l",
                "--reason",
                "passport seen on a video call",
            ]),
        )
        .await
        .unwrap();
        assert_eq!(store.open_identity_request(id).await.unwrap(), None);
        assert!(store.open_identity_requests().await.unwrap().is_empty());
        assert!(
            store
                .module_records(id)
                .await
                .unwrap()
                .iter()
                .any(|r| r.module == AccessModule::Identity && r.completed_at.is_some())
        );
        assert!(
            store
                .audit_for_user(id)
                .await
                .unwrap()
                .iter()
                .any(|e| e.action == "identity.verified_manually"
                    && e.detail == "passport seen on a video call")
        );
        let again = run(
            &store,
            admin(&["identity-requests", "resolve", "ada.l", "--reason", "x"]),
        )
        .await
        .unwrap_err();
        assert!(
            again
                .to_string()
                .contains("no open identity verification request"),
            "{again}"
        );
        let unknown = run(
            &store,
            admin(&["identity-requests", "resolve", "nobody", "--reason", "x"]),
        )
        .await
        .unwrap_err();
        assert!(
            unknown.to_string().contains("there is no user"),
            "{unknown}"
        );
    }

    #[tokio::test]
    async fn identity_requests_on_sqlite() {
        identity_requests_list_and_resolve(wb_store::testing::sqlite().await).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set WB_TEST_POSTGRES_URL (scripts/test starts one and runs these)"]
    async fn identity_requests_on_postgres() {
        if let Some(s) = wb_store::testing::postgres().await {
            identity_requests_list_and_resolve(s).await;
        }
    }

    #[test]
    fn master_agreement_with_controlled_tier() {
        let i = parse(&[
            "institution",
            "set",
            "--short-name",
            "lakeview",
            "--name",
            "Lakeview College",
            "--type",
            "educational",
            "--domains",
            "lakeview.example,LV.example",
            "--controlled",
        ])
        .unwrap();
        assert_eq!(i.agreement_type, AgreementType::Master);
        assert_eq!(
            i.tier(AccessTier::Registered).unwrap().email_domains,
            ["lakeview.example", "lv.example"]
        );
        assert_eq!(
            i.tier(AccessTier::Controlled).unwrap().requirement,
            MembershipRequirement::Domains
        );
    }

    #[test]
    fn restricted_agreement_lists_addresses() {
        let i = parse(&[
            "institution",
            "set",
            "--short-name",
            "harbor",
            "--name",
            "Harbor",
            "--agreement",
            "restricted",
            "--addresses",
            "a@harbor.example",
        ])
        .unwrap();
        assert_eq!(
            i.tier(AccessTier::Registered).unwrap().requirement,
            MembershipRequirement::Addresses
        );
        assert!(i.tier(AccessTier::Controlled).is_none());
    }

    #[test]
    fn a_credit_grant_needs_a_note() {
        assert!(Cli::try_parse_from(["admin", "credits", "ada", "--grant", "100"]).is_err());
        assert!(
            Cli::try_parse_from([
                "admin", "credits", "ada", "--grant", "100", "--note", "course"
            ])
            .is_ok()
        );
        assert!(Cli::try_parse_from(["admin", "credits", "ada"]).is_ok());
    }

    #[test]
    fn dollars_parse_to_cents() {
        assert_eq!(parse_dollars("1500").unwrap(), 150_000);
        assert_eq!(parse_dollars("$12.5").unwrap(), 1_250);
        assert_eq!(parse_dollars("0.07").unwrap(), 7);
        for bad in ["", "abc", "1.234", "-5", "1,000"] {
            assert!(parse_dollars(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let e = parse(&[
            "institution",
            "set",
            "--short-name",
            "x",
            "--name",
            "X",
            "--type",
            "castle",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("--type 'castle'"));
        let e = parse(&["institution", "set", "--short-name", "x", "--name", "X"]).unwrap_err();
        assert!(e.to_string().contains("at least one e-mail domain"), "{e}");
        let e = parse(&[
            "institution",
            "set",
            "--short-name",
            "Bad Name",
            "--name",
            "X",
            "--domains",
            "x.example",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("short name"), "{e}");
    }
}
