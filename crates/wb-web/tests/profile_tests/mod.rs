//! "Edit your profile" over HTTP on both databases; identity verification requested of an
//! administrator (no identity provider configured) in `identity_requests`.

use reqwest::StatusCode;
use wb_domain::access::AccessModule;

use crate::support::wb_clock_now::Now;
use crate::support::{TestApp, error_text, field, text_by_id, text_of};

mod identity_requests;

crate::on_both_databases!(
    profile_edit_saves_and_shows_the_change,
    profile_edit_without_changes_says_no_changes,
    profile_edit_refuses_bad_input_and_keeps_every_value,
    profile_edit_needs_sign_in_and_csrf_and_edits_only_your_own,
);

const PROFILE_SUBJECT: &str = "Your Researcher Workbench profile was changed";

/// The profile as sign-up stored it (support::step2_fields), as the edit form posts it.
fn edit_fields() -> Vec<(String, String)> {
    [
        ("role", "graduate_trainee"),
        ("given_name", "Ada"),
        ("family_name", "Lindqvist"),
        ("degrees", "phd"),
        ("street1", "1 College Way"),
        ("city", "Northfield"),
        ("state_province", "MN"),
        ("zip", "55057"),
        ("country", "United States"),
        (
            "research_background",
            "Kidney disease epidemiology in rural populations.",
        ),
        ("sex_at_birth", "prefer_not"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn with(mut fields: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    fields.retain(|(k, _)| k != name);
    fields.push((name.to_owned(), value.to_owned()));
    fields
}

/// Moves the clock (sessions time out meanwhile) and signs in again.
pub(crate) async fn later(app: &TestApp, seconds: i64) {
    app.clock.advance(seconds);
    let r = app.sign_in("ada.l", "violet harbor lantern 2931").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
}

async fn profile_audits(app: &TestApp, user_id: i64) -> Vec<wb_store::AuditRecord> {
    app.store
        .audit_for_user(user_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "profile.updated")
        .collect()
}

async fn confirmed_at(app: &TestApp, user_id: i64) -> Option<i64> {
    app.store
        .module_records(user_id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.module == AccessModule::ProfileConfirmation)
        .and_then(|r| r.completed_at)
}

async fn profile_edit_saves_and_shows_the_change(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    // The profile page offers "Edit"; the form holds the stored values and says what it
    // cannot change.
    let profile = app.get("/profile").await;
    assert_eq!(
        text_by_id(&profile.body, "edit-profile").as_deref(),
        Some("Edit")
    );
    let form = app.get("/profile/edit").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(field(&form.body, "given_name").as_deref(), Some("Ada"));
    assert_eq!(field(&form.body, "city").as_deref(), Some("Northfield"));
    assert_eq!(
        field(&form.body, "research_background").as_deref(),
        Some("Kidney disease epidemiology in rural populations.")
    );
    assert!(field(&form.body, "username").is_none(), "no username field");
    assert!(field(&form.body, "email").is_none(), "no e-mail field");
    let note = text_by_id(&form.body, "not-editable-note").unwrap();
    assert!(
        note.contains(
            "username, institutional e-mail address and institution cannot be changed here"
        ),
        "{note}"
    );
    let facts = text_by_id(&form.body, "not-editable").unwrap();
    assert!(facts.contains("ada.l@researchworkbench.example"), "{facts}");
    assert!(facts.contains("ada@northfield.example"), "{facts}");

    later(&app, 30 * 86_400).await;
    let now = app.clock.now_secs();
    let fields = with(edit_fields(), "city", "Faribault");
    let fields = with(
        fields,
        "research_background",
        "Dialysis outcomes in rural Minnesota.",
    );
    let r = app
        .submit_owned("/profile/edit", "/profile/edit", &fields)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    let to = r.location.unwrap();
    assert!(to.starts_with("/profile?saved="), "{to}");
    let page = app.get(&to).await;
    assert_eq!(
        text_by_id(&page.body, "profile-saved").as_deref(),
        Some("Profile saved: address, research background updated.")
    );
    assert!(
        text_by_id(&page.body, "profile-address")
            .unwrap()
            .contains("Faribault")
    );
    assert_eq!(
        text_by_id(&page.body, "profile-research").as_deref(),
        Some("Dialysis outcomes in rural Minnesota.")
    );
    // The public profile shows the new research background at once.
    let public = app.get("/people/ada.l").await;
    assert!(text_of(&public.body).contains("Dialysis outcomes in rural Minnesota."));
    // A forged or stale notice is not shown.
    let forged = app.get("/profile?saved=forged").await;
    assert!(text_by_id(&forged.body, "profile-saved").is_none());
    // One audit row naming the sections; the save counts as the yearly confirmation.
    let audits = profile_audits(&app, u.id).await;
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].detail, "address,research_background");
    assert_eq!(audits[0].actor, "user:ada.l");
    assert_eq!(confirmed_at(&app, u.id).await, Some(now));
    // The notice e-mail names what changed.
    let mail = app.mail_to("ada@northfield.example", PROFILE_SUBJECT).await;
    assert!(mail.text.contains("Address"), "{}", mail.text);
    assert!(mail.text.contains("Research background"), "{}", mail.text);
    // Username and e-mail stay what they were.
    let after = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert_eq!(after.contact_email, u.contact_email);
    assert_eq!(after.address.city, "Faribault");
    // Demographics and the role are editable too.
    let fields = with(edit_fields(), "city", "Faribault");
    let fields = with(
        fields,
        "research_background",
        "Dialysis outcomes in rural Minnesota.",
    );
    let mut fields = with(fields, "role", "other");
    fields.push(("role_other".into(), "Biostatistician".into()));
    fields.push(("year_of_birth_prefer_not".into(), "yes".into()));
    let r = app
        .submit_owned("/profile/edit", "/profile/edit", &fields)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    let page = app.get(&r.location.unwrap()).await;
    assert_eq!(
        text_by_id(&page.body, "profile-saved").as_deref(),
        Some("Profile saved: role, demographic information updated.")
    );
    assert!(text_of(&page.body).contains("Biostatistician"));
    let after = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert!(after.demographics.year_of_birth_prefer_not);
}

async fn profile_edit_without_changes_says_no_changes(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    later(&app, 300 * 86_400).await;
    let now = app.clock.now_secs();
    let mails_before = app.outbox.messages().len();
    let r = app
        .submit_owned("/profile/edit", "/profile/edit", &edit_fields())
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    let page = app.get(&r.location.unwrap()).await;
    assert_eq!(
        text_by_id(&page.body, "profile-saved").as_deref(),
        Some("No changes.")
    );
    assert!(profile_audits(&app, u.id).await.is_empty(), "no audit row");
    assert_eq!(
        confirmed_at(&app, u.id).await,
        Some(now),
        "saving unchanged still confirms the profile for the year"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.outbox.messages().len(), mails_before, "no e-mail");
}

async fn profile_edit_refuses_bad_input_and_keeps_every_value(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let before = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    // A line break in a name could add header lines to someone's e-mail: refused at the field.
    let fields = with(edit_fields(), "given_name", "Ada\r\nBcc: all@example.org");
    let fields = with(fields, "city", "Faribault");
    let fields = with(
        fields,
        "research_background",
        "New background, kept on error.",
    );
    let r = app
        .submit_owned("/profile/edit", "/profile/edit", &fields)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_by_id(&r.body, "given_name-error").as_deref(),
        Some(wb_domain::text::LINE_MESSAGE)
    );
    assert!(error_text(&r.body).contains("Nothing was saved"));
    assert_eq!(field(&r.body, "city").as_deref(), Some("Faribault"));
    assert_eq!(
        field(&r.body, "research_background").as_deref(),
        Some("New background, kept on error.")
    );
    assert!(
        field(&r.body, "given_name")
            .unwrap()
            .contains("Bcc: all@example.org"),
        "the typed name is kept"
    );
    // A direction override in an address line, and an empty required field.
    let fields = with(edit_fields(), "street1", "1 College\u{202E}Way");
    let fields = with(fields, "family_name", "  ");
    let fields = with(fields, "zip", "55021");
    let r = app
        .submit_owned("/profile/edit", "/profile/edit", &fields)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_by_id(&r.body, "family_name-error").as_deref(),
        Some("Enter your last name.")
    );
    assert_eq!(
        text_by_id(&r.body, "street1-error").as_deref(),
        Some(wb_domain::text::LINE_MESSAGE)
    );
    assert_eq!(field(&r.body, "zip").as_deref(), Some("55021"));
    // Nothing was written: no change, no audit row, no confirmation renewed.
    let after = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert_eq!(after, before);
    assert!(profile_audits(&app, before.id).await.is_empty());
}

async fn profile_edit_needs_sign_in_and_csrf_and_edits_only_your_own(app: TestApp) {
    // Not signed in: the form and the save send the visitor to sign in.
    let r = app.get("/profile/edit").await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert!(r.location.unwrap().starts_with("/sign-in"));
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let ada = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    let grace_browser = app.another_browser();
    grace_browser
        .signed_in_user("grace.h", "grace@northfield.example")
        .await;
    let grace = app
        .store
        .user_by_username("grace.h")
        .await
        .unwrap()
        .unwrap();
    let fields = with(edit_fields(), "city", "Faribault");
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Without a CSRF token, with a forged one, or cross-site: refused.
    let r = app.post_raw("/profile/edit", &borrowed, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut forged = borrowed.clone();
    forged.push(("csrf_token", "forged"));
    let r = app.post_raw("/profile/edit", &forged, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let token = field(&app.get("/profile/edit").await.body, "csrf_token").unwrap();
    let mut good = borrowed.clone();
    good.push(("csrf_token", &token));
    let r = app
        .post_raw("/profile/edit", &good, &[("sec-fetch-site", "cross-site")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Ada's token does not work in Grace's browser (it belongs to Ada's session).
    let r = grace_browser.post_raw("/profile/edit", &good, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.store.user_by_id(ada.id).await.unwrap().unwrap(),
        ada,
        "nothing changed"
    );
    // Grace's own save changes Grace only: there is no way to name another profile.
    let mut theirs = borrowed.clone();
    theirs.push(("username", "ada.l"));
    let page = grace_browser.get("/profile/edit").await;
    let r = grace_browser
        .submit_raw_form("/profile/edit", &page.body, &theirs)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    let g = app.store.user_by_id(grace.id).await.unwrap().unwrap();
    assert_eq!(g.address.city, "Faribault");
    assert_eq!(g.username, "grace.h");
    assert_eq!(app.store.user_by_id(ada.id).await.unwrap().unwrap(), ada);
}
