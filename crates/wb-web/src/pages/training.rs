//! "My Courses": the Responsible Conduct of Research course and, for those whose agreement
//! allows it, Controlled Tier training. Course modules with progress kept, then an assessment
//! drawn from the question bank and graded on the server; the retake rule the page states is
//! the one it enforces.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use wb_domain::access::AccessModule;
use wb_domain::training::{self, AssessmentPolicy, Course, CourseModule, NotYet, Question};
use wb_store::{Attempt, AttemptStart};

use super::{Layout, ok, page};
use crate::error::{WebError, WebResult};
use crate::guard::{Session, SignedIn};
use crate::registration;
use crate::state::AppState;
use crate::when::{Rich, Stamp};

impl AppState {
    pub fn assessment_policy(&self, course: &Course) -> AssessmentPolicy {
        AssessmentPolicy {
            questions_per_attempt: if course.key == "ct" {
                self.config.access.ct_questions
            } else {
                self.config.access.rt_questions
            },
            pass_percent: self.config.access.pass_percent,
            retake_wait_hours: self.config.access.retake_wait_hours,
            attempts_per_day: self.config.access.attempts_per_day,
        }
    }
}

/// Whether a new attempt may start at `now` after `attempts` (one course's, as stored).
pub fn may_start(attempts: &[Attempt], policy: &AssessmentPolicy, now: i64) -> Result<(), NotYet> {
    let started: Vec<i64> = attempts.iter().map(|a| a.started_at).collect();
    let last_failed = attempts
        .iter()
        .filter(|a| a.passed == Some(false))
        .filter_map(|a| a.submitted_at)
        .max();
    training::may_start_attempt(&started, last_failed, policy, now)
}

/// Why the next attempt cannot start yet, and when it can, as the pages say it.
pub fn not_yet_sentence(not_yet: NotYet) -> Rich {
    match not_yet {
        NotYet::RetakeWait { until } => Rich::new()
            .text("You can retake the assessment from ")
            .time(Stamp::datetime(until))
            .text("."),
        NotYet::DailyLimit { until, limit } => Rich::new()
            .text(&format!(
                "You have started {limit} {} in the last 24 hours, the most the assessment \
                 allows. You can start the next attempt at ",
                if limit == 1 { "attempt" } else { "attempts" }
            ))
            .time(Stamp::datetime(until))
            .text("."),
    }
}

/// After a failed attempt: when the next one is possible, and how many are left for now.
fn retake_sentence(attempts: &[Attempt], policy: &AssessmentPolicy, now: i64) -> Rich {
    if let Err(n) = may_start(attempts, policy, now) {
        return not_yet_sentence(n);
    }
    let started: Vec<i64> = attempts.iter().map(|a| a.started_at).collect();
    let oldest_in_window = started
        .iter()
        .copied()
        .filter(|&t| t <= now && now < t + training::DAY_SECONDS)
        .min();
    match (
        training::attempts_left(&started, policy, now),
        oldest_in_window,
    ) {
        (Some(left), Some(oldest)) => Rich::new()
            .text(&format!(
                "You can retake the assessment now: {left} more {} can start before ",
                if left == 1 { "attempt" } else { "attempts" }
            ))
            .time(Stamp::datetime(oldest + training::DAY_SECONDS))
            .text("."),
        _ => Rich::new().text("You can retake the assessment now."),
    }
}

fn module_for(course: &Course) -> AccessModule {
    if course.key == "ct" {
        AccessModule::CtTraining
    } else {
        AccessModule::RtTraining
    }
}

/// The course, if it exists and this user may take it. Controlled Tier training is offered
/// only when the user's institution makes them eligible for the Controlled Tier.
async fn allowed_course(state: &AppState, s: &Session, key: &str) -> WebResult<&'static Course> {
    let course = training::course(key).ok_or(WebError::NotFound)?;
    if course.key == "ct" {
        let a = registration::load(state, &s.user).await?;
        if !a.controlled_email_eligible {
            return Err(WebError::Forbidden(format!(
                "Controlled Tier training is offered only when your institution's agreement \
                 makes you eligible for the Controlled Tier. {}'s agreement does not cover {}.",
                a.institution_name, s.user.contact_email
            )));
        }
    }
    Ok(course)
}

struct CourseRow {
    key: &'static str,
    title: &'static str,
    summary: &'static str,
    done_modules: usize,
    total_modules: usize,
    passed: bool,
}

#[derive(Template)]
#[template(path = "training_courses.html")]
struct CoursesPage {
    layout: Layout,
    courses: Vec<CourseRow>,
    ct_reason: Option<String>,
}

pub async fn courses(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    let a = registration::load(&state, &s.user).await?;
    let mut rows = Vec::new();
    for key in ["rt", "ct"] {
        if key == "ct" && !a.controlled_email_eligible {
            continue;
        }
        let c = training::course(key).ok_or(WebError::NotFound)?;
        let progress = state.store.course_progress(s.user.id, key).await?;
        rows.push(CourseRow {
            key: c.key,
            title: c.title,
            summary: c.summary,
            done_modules: c
                .modules
                .iter()
                .filter(|m| progress.iter().any(|p| p == m.key))
                .count(),
            total_modules: c.modules.len(),
            passed: a.is_compliant(module_for(c)),
        });
    }
    ok(&CoursesPage {
        layout: Layout::new("My Courses", &s.ctx, Some(&s)),
        courses: rows,
        ct_reason: (!a.controlled_email_eligible).then(|| {
            format!(
                "Controlled Tier training is not listed because {}'s agreement does not make {} eligible for the Controlled Tier.",
                a.institution_name, s.user.contact_email
            )
        }),
    })
}

struct AttemptRow {
    when: Stamp,
    score: String,
    passed: bool,
}

#[derive(Template)]
#[template(path = "training_course.html")]
struct CoursePage {
    layout: Layout,
    course: &'static Course,
    done: Vec<&'static str>,
    all_done: bool,
    next_module: Option<&'static str>,
    policy_statement: String,
    attempts: Vec<AttemptRow>,
    open_attempt: bool,
    retake_at: Option<Rich>,
    passed: bool,
    error: Option<Rich>,
}

impl CoursePage {
    fn is_done(&self, key: &str) -> bool {
        self.done.contains(&key)
    }
}

async fn course_page(
    state: &AppState,
    s: &Session,
    course: &'static Course,
    error: Option<Rich>,
) -> WebResult<CoursePage> {
    let progress = state.store.course_progress(s.user.id, course.key).await?;
    let done: Vec<&'static str> = course
        .modules
        .iter()
        .filter(|m| progress.iter().any(|p| p == m.key))
        .map(|m| m.key)
        .collect();
    let attempts = state.store.attempts(s.user.id, course.key).await?;
    let policy = state.assessment_policy(course);
    let open_attempt = attempts.iter().any(|a| a.submitted_at.is_none());
    let a = registration::load(state, &s.user).await?;
    Ok(CoursePage {
        layout: Layout::new(course.title, &s.ctx, Some(s)),
        course,
        all_done: done.len() == course.modules.len(),
        next_module: course
            .modules
            .iter()
            .map(|m| m.key)
            .find(|k| !done.contains(k)),
        done,
        policy_statement: training::policy_statement(course, &policy),
        attempts: attempts
            .iter()
            .filter(|a| a.submitted_at.is_some())
            .map(|a| AttemptRow {
                when: Stamp::datetime(a.submitted_at.unwrap_or_default()),
                score: format!("{} of {}", a.correct.unwrap_or(0), a.total.unwrap_or(0)),
                passed: a.passed == Some(true),
            })
            .collect(),
        open_attempt,
        retake_at: if open_attempt {
            None
        } else {
            may_start(&attempts, &policy, state.now())
                .err()
                .map(not_yet_sentence)
        },
        passed: a.is_compliant(module_for(course)),
        error,
    })
}

pub async fn course(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(key): Path<String>,
) -> WebResult<Response> {
    let course = allowed_course(&state, &s, &key).await?;
    ok(&course_page(&state, &s, course, None).await?)
}

#[derive(Template)]
#[template(path = "training_module.html")]
struct ModulePage {
    layout: Layout,
    course: &'static Course,
    module: &'static CourseModule,
    number: usize,
}

pub async fn module(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((key, module_key)): Path<(String, String)>,
) -> WebResult<Response> {
    let course = allowed_course(&state, &s, &key).await?;
    let (i, module) = course
        .modules
        .iter()
        .enumerate()
        .find(|(_, m)| m.key == module_key)
        .ok_or(WebError::NotFound)?;
    ok(&ModulePage {
        layout: Layout::new(module.title, &s.ctx, Some(&s)),
        course,
        module,
        number: i + 1,
    })
}

pub async fn module_done(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((key, module_key)): Path<(String, String)>,
) -> WebResult<Response> {
    let course = allowed_course(&state, &s, &key).await?;
    let i = course
        .modules
        .iter()
        .position(|m| m.key == module_key)
        .ok_or(WebError::NotFound)?;
    state
        .store
        .complete_course_module(s.user.id, course.key, &module_key, state.now())
        .await?;
    let to = match course.modules.get(i + 1) {
        Some(next) => format!("/training/{}/modules/{}", course.key, next.key),
        None => format!("/training/{}", course.key),
    };
    Ok(Redirect::to(&to).into_response())
}

pub async fn start_assessment(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(key): Path<String>,
) -> WebResult<Response> {
    let course = allowed_course(&state, &s, &key).await?;
    let p = course_page(&state, &s, course, None).await?;
    if !p.all_done {
        let msg =
            Rich::new().text("Finish every module of the course before you take the assessment.");
        let p = course_page(&state, &s, course, Some(msg)).await?;
        return page(StatusCode::CONFLICT, &p);
    }
    let policy = state.assessment_policy(course);
    let now = state.now();
    let seed = u64::from_le_bytes(
        wb_auth::sha256_hex(&wb_auth::random_token()).as_bytes()[..8]
            .try_into()
            .unwrap_or([7; 8]),
    );
    // The rule is checked, and the questions drawn, inside the store's transaction, so parallel
    // starts cannot pass the daily limit; a fresh draw prefers questions the previous attempt
    // did not ask.
    let started = state
        .store
        .begin_attempt(s.user.id, course.key, now, |attempts| {
            may_start(attempts, &policy, now)?;
            let previous: Vec<&str> = attempts
                .last()
                .map(|a| a.questions.iter().map(String::as_str).collect())
                .unwrap_or_default();
            Ok(
                training::draw_avoiding(course, seed, policy.questions_per_attempt, &previous)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            )
        })
        .await?;
    match started {
        Ok(AttemptStart::Started(_) | AttemptStart::Resumed(_)) => {
            Ok(Redirect::to(&format!("/training/{}/assessment", course.key)).into_response())
        }
        Err(not_yet) => {
            let p = course_page(&state, &s, course, Some(not_yet_sentence(not_yet))).await?;
            page(StatusCode::CONFLICT, &p)
        }
    }
}

#[derive(Template)]
#[template(path = "training_assessment.html")]
struct AssessmentPage {
    layout: Layout,
    course: &'static Course,
    questions: Vec<&'static Question>,
    chosen: Vec<(String, usize)>,
    error: Option<String>,
    /// The questions without an answer: (number on the page, id).
    unanswered: Vec<(usize, String)>,
    policy_statement: String,
}

impl AssessmentPage {
    fn is_chosen(&self, id: &str, option: &usize) -> bool {
        self.chosen.iter().any(|(q, o)| q == id && o == option)
    }

    fn is_unanswered(&self, id: &str) -> bool {
        self.unanswered.iter().any(|(_, q)| q == id)
    }
}

async fn open_attempt(
    state: &AppState,
    s: &Session,
    course: &Course,
) -> WebResult<Option<wb_store::Attempt>> {
    Ok(state
        .store
        .attempts(s.user.id, course.key)
        .await?
        .into_iter()
        .rev()
        .find(|a| a.submitted_at.is_none()))
}

fn questions_of(course: &'static Course, ids: &[String]) -> Vec<&'static Question> {
    ids.iter()
        .filter_map(|id| course.bank.iter().find(|q| q.id == id))
        .collect()
}

pub async fn assessment(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(key): Path<String>,
) -> WebResult<Response> {
    let course = allowed_course(&state, &s, &key).await?;
    let Some(attempt) = open_attempt(&state, &s, course).await? else {
        return Ok(Redirect::to(&format!("/training/{}", course.key)).into_response());
    };
    ok(&AssessmentPage {
        layout: Layout::new(&format!("{}: assessment", course.title), &s.ctx, Some(&s)),
        course,
        questions: questions_of(course, &attempt.questions),
        chosen: Vec::new(),
        error: None,
        unanswered: Vec::new(),
        policy_statement: training::policy_statement(course, &state.assessment_policy(course)),
    })
}

#[derive(Template)]
#[template(path = "training_result.html")]
struct ResultPage {
    layout: Layout,
    course: &'static Course,
    correct: usize,
    total: usize,
    percent: u32,
    passed: bool,
    pass_percent: u32,
    retake: Option<Rich>,
    review: Vec<(&'static Question, bool)>,
}

pub async fn submit_assessment(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(key): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    let course = allowed_course(&state, &s, &key).await?;
    let Some(attempt) = open_attempt(&state, &s, course).await? else {
        return Err(WebError::BadRequest(
            "There is no assessment in progress: it was already submitted. Open the course page to see your result.".into(),
        ));
    };
    let mut answers: Vec<(String, usize)> = Vec::new();
    for (k, v) in &form {
        if let Some(id) = k.strip_prefix("q_") {
            match v.parse::<usize>() {
                Ok(o) => answers.push((id.to_owned(), o)),
                Err(_) => answers.push((id.to_owned(), usize::MAX)),
            }
        }
    }
    let policy = state.assessment_policy(course);
    let asked: Vec<&str> = attempt.questions.iter().map(String::as_str).collect();
    let grade = match training::grade(course, &asked, &answers, &policy) {
        Ok(g) => g,
        Err(e) => {
            let unanswered = match &e {
                training::GradeError::Unanswered(missing) => missing.clone(),
                _ => Vec::new(),
            };
            let p = AssessmentPage {
                layout: Layout::new(&format!("{}: assessment", course.title), &s.ctx, Some(&s)),
                course,
                questions: questions_of(course, &attempt.questions),
                chosen: answers,
                error: Some(e.to_string()),
                unanswered,
                policy_statement: training::policy_statement(course, &policy),
            };
            return page(StatusCode::UNPROCESSABLE_ENTITY, &p);
        }
    };
    let now = state.now();
    let recorded = state
        .store
        .submit_attempt(
            s.user.id,
            attempt.id,
            grade.correct as i64,
            grade.total as i64,
            grade.passed,
            now,
        )
        .await?;
    if !recorded {
        return Err(WebError::BadRequest(
            "This assessment was already submitted. Open the course page to see your result."
                .into(),
        ));
    }
    let module = module_for(course);
    if grade.passed {
        state
            .store
            .complete_module(s.user.id, module, now, None)
            .await?;
        registration::audit_module(&state, &s.user, module, "module.completed", &s.ctx.ip).await?;
        registration::sync(&state, &s.user).await?;
    }
    let questions = questions_of(course, &attempt.questions);
    let retake = if grade.passed {
        None
    } else {
        let attempts = state.store.attempts(s.user.id, course.key).await?;
        Some(retake_sentence(&attempts, &policy, now))
    };
    ok(&ResultPage {
        layout: Layout::new(&format!("{}: result", course.title), &s.ctx, Some(&s)),
        course,
        correct: grade.correct,
        total: grade.total,
        percent: grade.percent,
        passed: grade.passed,
        pass_percent: policy.pass_percent,
        retake,
        review: questions
            .into_iter()
            .map(|q| (q, !grade.wrong.contains(&q.id)))
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "training_certificate.html")]
struct CertificatePage {
    layout: Layout,
    course: &'static Course,
    name: String,
    institution: String,
    date: Stamp,
    score: String,
    expires: Option<Stamp>,
    certificate_id: String,
}

pub async fn certificate(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(key): Path<String>,
) -> WebResult<Response> {
    let course = allowed_course(&state, &s, &key).await?;
    let attempts = state.store.attempts(s.user.id, course.key).await?;
    let Some(passed) = attempts.iter().rev().find(|a| a.passed == Some(true)) else {
        return Err(WebError::NotFound);
    };
    let a = registration::load(&state, &s.user).await?;
    let expires = match a.status(module_for(course)) {
        wb_domain::access::ModuleStatus::Completed { expires_at, .. } => {
            expires_at.map(Stamp::date)
        }
        _ => None,
    };
    ok(&CertificatePage {
        layout: Layout::new("Certificate", &s.ctx, Some(&s)),
        course,
        name: s.user.full_name(),
        institution: a.institution_name.clone(),
        date: Stamp::date(passed.submitted_at.unwrap_or_default()),
        score: format!(
            "{} of {}",
            passed.correct.unwrap_or(0),
            passed.total.unwrap_or(0)
        ),
        expires,
        certificate_id: certificate_id(&state, s.user.id, course, passed.id),
    })
}

/// "RT-42-7F3A9C1B": the course, the passed attempt and a tag only this server can make, so a
/// certificate id quoted to an administrator can be checked.
pub fn certificate_id(state: &AppState, user_id: i64, course: &Course, attempt_id: i64) -> String {
    let tag = state.signer.tag(
        "certificate",
        &format!("{user_id}:{}:{attempt_id}", course.key),
    );
    let short: String = tag
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    format!("{}-{attempt_id}-{short}", course.key.to_ascii_uppercase())
}
