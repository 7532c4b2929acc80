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
use wb_domain::training::{self, AssessmentPolicy, Course, CourseModule, Question};

use super::{Layout, ok, page};
use crate::error::{WebError, WebResult};
use crate::guard::{Session, SignedIn};
use crate::registration;
use crate::state::AppState;

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
        }
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
    when: String,
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
    retake_at: Option<String>,
    passed: bool,
    error: Option<String>,
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
    error: Option<String>,
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
    let last_failed = attempts
        .iter()
        .filter(|a| a.passed == Some(false))
        .filter_map(|a| a.submitted_at)
        .max();
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
        policy_statement: training::policy_statement(&policy),
        attempts: attempts
            .iter()
            .filter(|a| a.submitted_at.is_some())
            .map(|a| AttemptRow {
                when: state.date(a.submitted_at.unwrap_or_default()),
                score: format!("{} of {}", a.correct.unwrap_or(0), a.total.unwrap_or(0)),
                passed: a.passed == Some(true),
            })
            .collect(),
        open_attempt: attempts.iter().any(|a| a.submitted_at.is_none()),
        retake_at: training::retake_wait(last_failed, &policy, state.now())
            .map(|t| state.datetime(t)),
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
    let refuse = |msg: String| async {
        let p = course_page(&state, &s, course, Some(msg)).await?;
        page(StatusCode::CONFLICT, &p)
    };
    if !p.all_done {
        return refuse("Finish every module of the course before you take the assessment.".into())
            .await;
    }
    if let Some(at) = &p.retake_at {
        return refuse(format!("You can retake the assessment from {at}.")).await;
    }
    if !p.open_attempt {
        let policy = state.assessment_policy(course);
        let seed = u64::from_le_bytes(
            wb_auth::sha256_hex(&wb_auth::random_token()).as_bytes()[..8]
                .try_into()
                .unwrap_or([7; 8]),
        );
        let questions = training::draw(course, seed, policy.questions_per_attempt);
        state
            .store
            .start_attempt(s.user.id, course.key, &questions, state.now())
            .await?;
    }
    Ok(Redirect::to(&format!("/training/{}/assessment", course.key)).into_response())
}

#[derive(Template)]
#[template(path = "training_assessment.html")]
struct AssessmentPage {
    layout: Layout,
    course: &'static Course,
    questions: Vec<&'static Question>,
    chosen: Vec<(String, usize)>,
    error: Option<String>,
    policy_statement: String,
}

impl AssessmentPage {
    fn is_chosen(&self, id: &str, option: &usize) -> bool {
        self.chosen.iter().any(|(q, o)| q == id && o == option)
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
        policy_statement: training::policy_statement(&state.assessment_policy(course)),
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
    retake_at: Option<String>,
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
            let p = AssessmentPage {
                layout: Layout::new(&format!("{}: assessment", course.title), &s.ctx, Some(&s)),
                course,
                questions: questions_of(course, &attempt.questions),
                chosen: answers,
                error: Some(e.to_string()),
                policy_statement: training::policy_statement(&policy),
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
    ok(&ResultPage {
        layout: Layout::new(&format!("{}: result", course.title), &s.ctx, Some(&s)),
        course,
        correct: grade.correct,
        total: grade.total,
        percent: grade.percent,
        passed: grade.passed,
        pass_percent: policy.pass_percent,
        retake_at: (!grade.passed)
            .then(|| training::retake_wait(Some(now), &policy, now).map(|t| state.datetime(t)))
            .flatten(),
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
    date: String,
    score: String,
    expires: Option<String>,
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
            expires_at.map(|t| state.date(t))
        }
        _ => None,
    };
    ok(&CertificatePage {
        layout: Layout::new("Certificate", &s.ctx, Some(&s)),
        course,
        name: s.user.full_name(),
        institution: a.institution_name.clone(),
        date: state.date(passed.submitted_at.unwrap_or_default()),
        score: format!(
            "{} of {}",
            passed.correct.unwrap_or(0),
            passed.total.unwrap_or(0)
        ),
        expires,
    })
}
