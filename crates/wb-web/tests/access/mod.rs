//! Data access registration over HTTP: 2-step verification, the code of conduct, training
//! and its assessment, identity, tiers, expiry and reminders.

use reqwest::StatusCode;
use wb_domain::access::AccessModule;

use crate::support::wb_clock_now::Now;
use crate::support::{TestApp, field, text_of};

mod oidc;

crate::on_both_databases!(
    two_step_verification_enrols_and_guards_every_sign_in,
    code_of_conduct_needs_matching_initials,
    training_assessment_is_graded_and_the_retake_wait_enforced,
    unanswered_questions_are_named_by_number_at_the_question,
    three_attempts_a_day_each_a_fresh_draw,
    parallel_attempts_never_pass_the_daily_limit,
    controlled_tier_training_only_for_eligible_users,
    completing_every_module_grants_both_tiers_and_expiry_takes_them,
    expiry_reminders_are_sent_once_per_threshold,
    access_api_reports_modules_and_tiers,
);

async fn access_api_reports_modules_and_tiers(app: TestApp) {
    let r = app.get("/api/v1/me/access").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["error"], "unauthenticated");
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let r = app.get("/api/v1/me/access").await;
    assert_eq!(r.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["username"], "ada.l");
    assert_eq!(body["tiers"], serde_json::json!([]));
    assert_eq!(body["controlled_tier_eligible"], true);
    assert_eq!(body["modules"].as_array().unwrap().len(), 6);
    let profile = body["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "profile_confirmation")
        .unwrap();
    assert_eq!(profile["status"], "completed");
    assert!(profile["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        body["missing_for_registered"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("two_factor"))
    );
    assert!(
        !body["missing_for_registered"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("ct_training"))
    );
}

async fn two_step_verification_enrols_and_guards_every_sign_in(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    // A wrong code is refused and the same secret stays on the page.
    let page = app.get("/two-step-verification").await;
    let secret_text = TestApp::by_id(&page.body, "totp-secret").unwrap();
    assert!(
        page.body.contains("<svg"),
        "a QR code is rendered by the server"
    );
    let pending = field(&page.body, "pending").unwrap();
    let r = app
        .submit_raw_form(
            "/two-step-verification",
            &page.body,
            &[("code", "000000"), ("pending", &pending)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(TestApp::by_id(&r.body, "totp-secret").unwrap(), secret_text);
    // Opening the page stored nothing; a tampered proposal is refused.
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert!(
        app.store.totp(u.id).await.unwrap().is_none(),
        "GET wrote nothing"
    );
    let r = app
        .submit_raw_form(
            "/two-step-verification",
            &page.body,
            &[("code", "000000"), ("pending", "tampered")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("was open for more than 30 minutes or was changed"));
    let (secret, codes) = app.enrol_totp().await;
    assert_eq!(codes.len(), 10);
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    let stored = app.store.totp(u.id).await.unwrap().unwrap();
    assert!(
        !stored.secret_sealed.contains(&secret.to_base32()),
        "the seed is encrypted at rest"
    );
    assert!(
        app.store
            .module_records(u.id)
            .await
            .unwrap()
            .iter()
            .any(|r| r.module == AccessModule::TwoFactor && r.completed_at.is_some())
    );
    // Every sign-in now asks for a code; the data pages stay closed until it is given.
    app.sign_out().await;
    let r = app.sign_in("ada.l", "violet harbor lantern 2931").await;
    assert_eq!(r.location.as_deref(), Some("/sign-in/verify"));
    assert_eq!(
        app.get("/data-access-requirements")
            .await
            .location
            .as_deref(),
        Some("/sign-in/verify")
    );
    assert_eq!(
        app.get("/change-password").await.location.as_deref(),
        Some("/sign-in/verify")
    );
    // The code used for enrolment cannot be replayed; two steps back is too old.
    let now = app.clock.now_secs();
    let used = wb_auth::totp::code_at(&secret, now);
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &used)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.clock.advance(90);
    let old = wb_auth::totp::code_at(&secret, app.clock.now_secs() - 60);
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &old)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let before = app.session_cookie();
    let code = wb_auth::totp::code_at(&secret, app.clock.now_secs());
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &code)])
        .await;
    assert_eq!(r.location.as_deref(), Some("/data-access-requirements"));
    assert_ne!(
        app.session_cookie(),
        before,
        "a new session id after the second factor"
    );
    // A recovery code works once.
    app.sign_out().await;
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let r = app
        .submit(
            "/sign-in/verify",
            "/sign-in/verify",
            &[("code", &codes[0].to_uppercase())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    app.sign_out().await;
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &codes[0])])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.store.recovery_codes_left(u.id).await.unwrap(), 9);
}

async fn code_of_conduct_needs_matching_initials(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let read = app.get("/code-of-conduct").await;
    assert!(read.body.contains("Proceed"));
    let page = app.get("/code-of-conduct/accept").await;
    assert!(text_of(&page.body).contains("Ada Lindqvist"));
    let n = wb_domain::conduct::CURRENT.statements.len();
    let version = wb_domain::conduct::CURRENT.version.to_string();
    let names: Vec<String> = (0..n).map(|i| format!("initials_{i}")).collect();
    let mut wrong: Vec<(&str, &str)> = names.iter().map(|k| (k.as_str(), "AL")).collect();
    wrong[1].1 = "ZZ";
    wrong.push(("version", &version));
    let r = app
        .submit_raw_form("/code-of-conduct/accept", &page.body, &wrong)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field(&r.body, "initials_1"),
        Some("ZZ".into()),
        "typed initials are kept"
    );
    assert_eq!(field(&r.body, "initials_0"), Some("AL".into()));
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert!(
        !app.store
            .module_records(u.id)
            .await
            .unwrap()
            .iter()
            .any(|r| r.module == AccessModule::CodeOfConduct)
    );
    let mut stale: Vec<(&str, &str)> = names.iter().map(|k| (k.as_str(), "AL")).collect();
    stale.push(("version", "0"));
    let r = app
        .submit_raw_form("/code-of-conduct/accept", &page.body, &stale)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let mut good: Vec<(&str, &str)> = names.iter().map(|k| (k.as_str(), "a.l")).collect();
    good.push(("version", &version));
    let r = app
        .submit_raw_form("/code-of-conduct/accept", &page.body, &good)
        .await;
    assert_eq!(r.location.as_deref(), Some("/data-access-requirements"));
    let rec = app.store.module_records(u.id).await.unwrap();
    let c = rec
        .iter()
        .find(|r| r.module == AccessModule::CodeOfConduct)
        .unwrap();
    assert_eq!(c.version, Some(wb_domain::conduct::CURRENT.version));
}

async fn training_assessment_is_graded_and_the_retake_wait_enforced(app: TestApp) {
    // A deployment that keeps a wait after a failure: the page states it and enforces it.
    let app = TestApp::spawn_with(app.store.clone(), 1_790_000_000, |c| {
        c.access.retake_wait_hours = 24;
    })
    .await;
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    // The assessment opens only after every module.
    let r = app
        .submit("/training/rt", "/training/rt/assessment/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let course = app.get("/training/rt").await;
    assert!(
        TestApp::by_id(&course.body, "policy")
            .unwrap()
            .contains("24 hours")
    );
    let failed_at = app.clock.now_secs();
    let r = app.take_assessment("rt", false).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("You did not pass"));
    let retake_time = rfc3339(failed_at + 24 * 3600);
    let retake = TestApp::by_id(&r.body, "retake").unwrap();
    assert!(
        retake.contains("You can retake the assessment from"),
        "{retake}"
    );
    assert!(
        r.body.contains(&format!(
            "<time datetime=\"{retake_time}\" data-local=\"datetime\">"
        )),
        "{}",
        r.body
    );
    // The Data Access Requirements row says when the retake opens, and offers no Start.
    let req = app.get("/data-access-requirements").await;
    let row = module_row(&req.body, "rt_training");
    assert!(row.contains("Retake available at"), "{row}");
    // (scraper writes the attributes in its own order)
    assert!(
        row.contains(&format!("datetime=\"{retake_time}\""))
            && row.contains("data-local=\"datetime\""),
        "{row}"
    );
    assert!(row.contains(" UTC</time>"), "{row}");
    assert!(!row.contains(">Start<"), "{row}");
    // The wait the page states is enforced.
    let r = app
        .submit("/training/rt", "/training/rt/assessment/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("You can retake the assessment from"));
    app.clock.advance(24 * 3600);
    // The session timed out meanwhile: sign in again.
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    // Answers for a question that was not asked are refused and nothing is recorded.
    let start = app
        .submit("/training/rt", "/training/rt/assessment/start", &[])
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let page = app.get("/training/rt/assessment").await;
    let r = app
        .submit_raw_form(
            "/training/rt/assessment",
            &page.body,
            &[("q_not-a-question", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert_eq!(
        app.store
            .attempts(u.id, "rt")
            .await
            .unwrap()
            .iter()
            .filter(|a| a.submitted_at.is_some())
            .count(),
        1
    );
    let r = app.take_assessment("rt", true).await;
    assert!(
        r.body.contains("Continue to Researcher Workbench"),
        "{}",
        text_of(&r.body)
    );
    let passed_at = app.clock.now_secs();
    let cert = app.get("/training/rt/certificate").await;
    assert_eq!(cert.status, StatusCode::OK);
    assert!(text_of(&cert.body).contains("Ada Lindqvist"));
    // Printable: the button (shown by app.js, which calls window.print()), a hint without
    // script, the dates as <time> elements and a certificate id.
    let button = scraper_attr(&cert.body, "#print-certificate", "data-print");
    assert!(button.is_some(), "no print button");
    assert!(
        TestApp::by_id(&cert.body, "print-certificate")
            .unwrap()
            .contains("Print certificate")
    );
    assert!(cert.body.contains("<noscript>"));
    let date = format!(
        "<time datetime=\"{}\" data-local=\"date\">",
        rfc3339(passed_at)
    );
    assert!(
        TestApp::by_id(&cert.body, "certificate-date").is_some() && cert.body.contains(&date),
        "{}",
        cert.body
    );
    assert!(TestApp::by_id(&cert.body, "certificate-expires").is_some());
    assert_eq!(
        TestApp::by_id(&cert.body, "certificate-course").unwrap(),
        "Responsible Conduct of Research"
    );
    let id = TestApp::by_id(&cert.body, "certificate-id").unwrap();
    assert!(id.starts_with("RT-") && id.len() > 12, "{id}");
    assert_eq!(
        id,
        TestApp::by_id(
            &app.get("/training/rt/certificate").await.body,
            "certificate-id"
        )
        .unwrap()
    );
    let req = app.get("/data-access-requirements").await;
    assert!(req.body.contains("Completed on:"));
    let row = module_row(&req.body, "rt_training");
    assert!(
        row.contains(&format!("datetime=\"{}\"", rfc3339(passed_at))),
        "{row}"
    );
    // The print stylesheet and the script it relies on are served.
    let css = app.get("/static/app.css").await.body;
    assert!(css.contains("@media print"));
    let js = app.get("/static/app.js").await.body;
    assert!(js.contains("window.print()") && js.contains("Intl.DateTimeFormat"));
}

/// "2026-09-21T12:00:00Z" for a Unix time, as `<time datetime>` has it.
fn rfc3339(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The HTML of the Data Access Requirements row of one module.
fn module_row(html: &str, code: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("li[data-module=\"{code}\"]")).unwrap();
    doc.select(&sel)
        .next()
        .unwrap_or_else(|| panic!("no row {code}"))
        .html()
}

fn scraper_attr(html: &str, selector: &str, attr: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr(attr).map(str::to_owned))
}

/// Reads every module and opens the assessment; returns its page.
async fn open_assessment(app: &TestApp, course: &str) -> crate::support::Resp {
    let c = wb_domain::training::course(course).unwrap();
    for m in c.modules {
        let path = format!("/training/{course}/modules/{}", m.key);
        assert_eq!(
            app.submit(&path, &path, &[]).await.status,
            StatusCode::SEE_OTHER
        );
    }
    let r = app
        .submit(
            &format!("/training/{course}"),
            &format!("/training/{course}/assessment/start"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    app.get(&format!("/training/{course}/assessment")).await
}

/// The question ids of an assessment page, in the order asked.
fn asked_ids(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("fieldset.question input[type=radio]").unwrap();
    let mut ids: Vec<String> = doc
        .select(&sel)
        .filter_map(|e| e.value().attr("name"))
        .map(|n| n.trim_start_matches("q_").to_owned())
        .collect();
    ids.dedup();
    ids
}

async fn unanswered_questions_are_named_by_number_at_the_question(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let page = open_assessment(&app, "rt").await;
    let ids = asked_ids(&page.body);
    assert_eq!(ids.len(), 10);
    let c = wb_domain::training::course("rt").unwrap();
    // Every question answered except the 5th and the 8th.
    let answers: Vec<(String, String)> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4 && *i != 7)
        .map(|(_, id)| {
            (
                format!("q_{id}"),
                c.question(id).unwrap().correct.to_string(),
            )
        })
        .collect();
    let fields: Vec<(&str, &str)> = answers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = app
        .submit_raw_form("/training/rt/assessment", &page.body, &fields)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let summary = TestApp::by_id(&r.body, "assessment-error").unwrap();
    assert!(
        summary.contains("Questions 5 and 8 have no answer."),
        "{summary}"
    );
    assert!(
        !r.body.contains(&format!("Question {}", ids[4])),
        "the internal id is shown"
    );
    assert!(!summary.contains("rt-"), "{summary}");
    // The summary links to each question; the message is also at the question.
    assert!(
        r.body
            .contains("<a href=\"#question-5\">Question 5 has no answer</a>")
    );
    assert!(
        r.body
            .contains("<a href=\"#question-8\">Question 8 has no answer</a>")
    );
    for n in [5, 8] {
        let at = TestApp::by_id(&r.body, &format!("question-{n}-error")).unwrap();
        assert_eq!(
            at,
            format!("Question {n} has no answer. Choose one of the answers below.")
        );
        let described = scraper_attr(&r.body, &format!("#question-{n}"), "aria-describedby");
        assert_eq!(
            described.as_deref(),
            Some(format!("question-{n}-error").as_str())
        );
        let legend = TestApp::by_id(&r.body, &format!("question-{n}")).unwrap();
        assert!(legend.contains(c.question(&ids[n - 1]).unwrap().prompt));
    }
    assert!(TestApp::by_id(&r.body, "question-1-error").is_none());
    // Every other answer is kept.
    let doc = scraper::Html::parse_document(&r.body);
    let checked = scraper::Selector::parse("input[type=radio][checked]").unwrap();
    let kept: Vec<(String, String)> = doc
        .select(&checked)
        .map(|e| {
            (
                e.value().attr("name").unwrap().to_owned(),
                e.value().attr("value").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(kept, answers);
    // Nothing was recorded: answering the two passes.
    let mut all = answers.clone();
    for i in [4, 7] {
        all.push((
            format!("q_{}", ids[i]),
            c.question(&ids[i]).unwrap().correct.to_string(),
        ));
    }
    let fields: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = app
        .submit_raw_form("/training/rt/assessment", &r.body, &fields)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Congratulations, you passed."));
}

async fn three_attempts_a_day_each_a_fresh_draw(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let course = app.get("/training/rt").await;
    let policy = TestApp::by_id(&course.body, "policy").unwrap();
    assert_eq!(
        policy,
        "The assessment asks 10 of the 25 questions in its question bank, drawn afresh for each \
         attempt. You pass with 80% or more. You can start at most 3 attempts in any 24 hours, \
         and after a failed attempt you can retake it immediately."
    );
    let first_start = app.clock.now_secs();
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    for n in 1..=3 {
        let page = open_assessment(&app, "rt").await;
        // A reload of the same attempt shows the same questions.
        let again = app.get("/training/rt/assessment").await;
        assert_eq!(asked_ids(&page.body), asked_ids(&again.body));
        app.clock.advance(60);
        let r = app.take_assessment("rt", false).await;
        assert!(r.body.contains("You did not pass"), "{}", text_of(&r.body));
        let retake = TestApp::by_id(&r.body, "retake").unwrap();
        if n < 3 {
            let left = 3 - n;
            assert!(
                retake.starts_with(&format!(
                    "You can retake the assessment now: {left} more attempt"
                )),
                "{retake}"
            );
        } else {
            assert!(
                retake.starts_with("You have started 3 attempts in the last 24 hours"),
                "{retake}"
            );
        }
        app.clock.advance(60);
    }
    // Each attempt drew its questions afresh: consecutive attempts share at most one question
    // per module (only when a module's questions ran out), and no two are the same.
    let attempts = app.store.attempts(u.id, "rt").await.unwrap();
    assert_eq!(attempts.len(), 3);
    for pair in attempts.windows(2) {
        assert_ne!(pair[0].questions, pair[1].questions);
        let shared = pair[1]
            .questions
            .iter()
            .filter(|q| pair[0].questions.contains(q))
            .count();
        assert!(shared <= 5, "{shared} questions asked again");
    }
    // The fourth start within 24 hours is refused, naming when the next is possible.
    let next = rfc3339(first_start + 24 * 3600);
    let r = app
        .submit("/training/rt", "/training/rt/assessment/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let msg = TestApp::by_id(&r.body, "course-error").unwrap();
    assert!(
        msg.starts_with(
            "You have started 3 attempts in the last 24 hours, the most the assessment allows. \
             You can start the next attempt at "
        ),
        "{msg}"
    );
    assert!(msg.ends_with(" UTC."), "{msg}");
    assert!(r.body.contains(&format!(
        "<time datetime=\"{next}\" data-local=\"datetime\">"
    )));
    assert_eq!(app.store.attempts(u.id, "rt").await.unwrap().len(), 3);
    // The course page offers no start; the requirements row says when.
    let course = app.get("/training/rt").await;
    assert!(TestApp::by_id(&course.body, "retake-wait").is_some());
    assert!(!course.body.contains("Start the assessment"));
    let req = app.get("/data-access-requirements").await;
    let row = module_row(&req.body, "rt_training");
    assert!(row.contains("Retake available at"), "{row}");
    assert!(row.contains(&format!("datetime=\"{next}\"")), "{row}");
    // 24 hours after the first start, one more attempt opens.
    app.clock.advance(24 * 3600 - 6 * 60 - 1);
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let r = app
        .submit("/training/rt", "/training/rt/assessment/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "one second early");
    app.clock.advance(1);
    let r = app
        .submit("/training/rt", "/training/rt/assessment/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    let req = app.get("/data-access-requirements").await;
    assert!(module_row(&req.body, "rt_training").contains("Assessment in progress"));
}

async fn parallel_attempts_never_pass_the_daily_limit(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    let page = open_assessment(&app, "rt").await;
    // Several tabs at once: each starts an attempt, answers it wrongly and starts again.
    let tab = |page: String| {
        let app = &app;
        async move {
            let mut refused = 0;
            for _ in 0..4 {
                let r = app
                    .submit_raw_form("/training/rt/assessment/start", &page, &[])
                    .await;
                if r.status == StatusCode::CONFLICT {
                    assert!(
                        r.body.contains("You have started 3 attempts"),
                        "{}",
                        text_of(&r.body)
                    );
                    refused += 1;
                    continue;
                }
                assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
                let open = app.get("/training/rt/assessment").await;
                if open.status != StatusCode::OK {
                    continue; // another tab submitted it meanwhile
                }
                let bank = wb_domain::training::course("rt").unwrap();
                let answers: Vec<(String, String)> = asked_ids(&open.body)
                    .iter()
                    .map(|id| {
                        let q = bank.question(id).unwrap();
                        (
                            format!("q_{id}"),
                            ((q.correct + 1) % q.options.len()).to_string(),
                        )
                    })
                    .collect();
                let fields: Vec<(&str, &str)> = answers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let _ = app
                    .submit_raw_form("/training/rt/assessment", &open.body, &fields)
                    .await;
            }
            refused
        }
    };
    let body = page.body;
    let (a, b, c, d) = tokio::join!(
        tab(body.clone()),
        tab(body.clone()),
        tab(body.clone()),
        tab(body)
    );
    let attempts = app.store.attempts(u.id, "rt").await.unwrap();
    assert!(attempts.len() <= 3, "{} attempts started", attempts.len());
    // A refusal means the limit was reached: exactly 3, never more.
    assert!(a + b + c + d > 0, "no start was refused");
    assert_eq!(attempts.len(), 3);
}

async fn controlled_tier_training_only_for_eligible_users(app: TestApp) {
    app.signed_in_user("cam.r", "cam@cedarvalley.example").await;
    let r = app.get("/training/ct").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("does not cover cam@cedarvalley.example"));
    let req = app.get("/data-access-requirements").await;
    assert!(
        TestApp::by_id(&req.body, "ct-reason")
            .unwrap()
            .contains("not offered")
    );
    let r = app
        .submit("/training", "/training/ct/modules/anything", &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn complete_everything(
    app: &TestApp,
    username: &str,
    email: &str,
) -> (i64, wb_auth::totp::TotpSecret) {
    app.signed_in_user(username, email).await;
    let (secret, _) = app.enrol_totp().await;
    let u = app.store.user_by_username(username).await.unwrap().unwrap();
    app.store
        .link_identity(
            "test-idp",
            &format!("sub-{username}"),
            u.id,
            Some("ial2"),
            app.clock.now_secs(),
        )
        .await
        .unwrap();
    app.take_assessment("rt", true).await;
    app.take_assessment("ct", true).await;
    let page = app.get("/code-of-conduct/accept").await;
    let n = wb_domain::conduct::CURRENT.statements.len();
    let initials = wb_domain::conduct::expected_initials(&u.given_name, &u.family_name);
    let names: Vec<String> = (0..n).map(|i| format!("initials_{i}")).collect();
    let version = wb_domain::conduct::CURRENT.version.to_string();
    let mut fields: Vec<(&str, &str)> = names
        .iter()
        .map(|k| (k.as_str(), initials.as_str()))
        .collect();
    fields.push(("version", &version));
    let r = app
        .submit_raw_form("/code-of-conduct/accept", &page.body, &fields)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    (u.id, secret)
}

async fn completing_every_module_grants_both_tiers_and_expiry_takes_them(app: TestApp) {
    use wb_domain::AccessTier;
    let (id, secret) = complete_everything(&app, "ada.l", "ada@northfield.example").await;
    let req = app.get("/data-access-requirements").await;
    assert!(
        req.body
            .contains("Researcher Workbench data access is complete"),
        "{}",
        text_of(&req.body)
    );
    assert!(req.body.contains("Get Started"));
    assert_eq!(
        app.store.user_tiers(id).await.unwrap(),
        vec![AccessTier::Registered, AccessTier::Controlled]
    );
    assert_eq!(app.get("/home").await.status, StatusCode::OK);
    // A year later training, the code of conduct and the profile confirmation expire: the
    // tiers go at once and the page says what to renew.
    app.clock.advance(366 * 86_400);
    // The session ended long ago: sign in again, with the second factor.
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let code = wb_auth::totp::code_at(&secret, app.clock.now_secs());
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let req = app.get("/data-access-requirements").await;
    assert!(req.body.contains("Expired on:"), "{}", text_of(&req.body));
    // The page computed the loss; the scheduled job records it (reading writes nothing).
    assert_eq!(app.store.user_tiers(id).await.unwrap().len(), 2);
    wb_web::jobs::access_reminders(&app.state).await.unwrap();
    assert!(app.store.user_tiers(id).await.unwrap().is_empty());
    let actions: Vec<String> = app
        .store
        .audit_for_user(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"tier.granted".into()) && actions.contains(&"tier.lost".into()));
}

async fn expiry_reminders_are_sent_once_per_threshold(app: TestApp) {
    let (id, _) = complete_everything(&app, "ada.l", "ada@northfield.example").await;
    let state_expiry = app.store.user_tiers(id).await.unwrap();
    assert_eq!(state_expiry.len(), 2);
    let state = app.state.clone();
    let count = |app: &TestApp| {
        app.outbox
            .messages()
            .iter()
            .filter(|m| m.subject.contains("access expires"))
            .count()
    };
    let r = wb_web::jobs::access_reminders(&state).await.unwrap();
    assert_eq!(r.sent, 0, "nothing is due a year ahead");
    app.clock.advance((365 - 30) * 86_400);
    let r = wb_web::jobs::access_reminders(&state).await.unwrap();
    assert_eq!(r.sent, 2, "one reminder per tier at 30 days");
    let r = wb_web::jobs::access_reminders(&state).await.unwrap();
    assert_eq!(r.sent, 0, "running again sends nothing");
    app.clock.advance(16 * 86_400);
    wb_web::jobs::access_reminders(&state).await.unwrap();
    assert_eq!(count(&app), 4, "the 15-day reminders");
}
