//! Training courses and their assessments.
//!
//! Two courses are written here: [`RESPONSIBLE_CONDUCT`], which every researcher completes for
//! the Registered Tier, and [`CONTROLLED_TIER`], which adds what the Controlled Tier needs. A
//! course is a list of modules to read and a bank of multiple-choice questions. An attempt asks
//! a selection of questions chosen afresh from a seed, preferring those the previous attempt did
//! not ask ([`draw_avoiding`]), is scored by [`grade`] under an [`AssessmentPolicy`], and
//! [`may_start_attempt`] says whether the next one may start now (the daily limit of attempts
//! and the wait after a failed one) or when.

use serde::Serialize;

/// A training course: modules to read, then an assessment drawn from its question bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Course {
    /// Stable key stored with completions: `"rt"` or `"ct"`.
    pub key: &'static str,
    /// The course name a person reads.
    pub title: &'static str,
    /// One or two sentences shown before the course starts.
    pub summary: &'static str,
    /// The modules, in reading order.
    pub modules: &'static [CourseModule],
    /// Every question an attempt can ask.
    pub bank: &'static [Question],
}

/// One module of a course: a titled run of paragraphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CourseModule {
    /// Stable key, unique within the course; questions name their module by it.
    pub key: &'static str,
    /// The module heading.
    pub title: &'static str,
    /// The text, one paragraph per entry.
    pub paragraphs: &'static [&'static str],
}

/// A multiple-choice question about one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Question {
    /// Stable id, unique across all courses (for example `rt-privacy-2`).
    pub id: &'static str,
    /// The key of the [`CourseModule`] the question is about.
    pub module: &'static str,
    /// The question as asked.
    pub prompt: &'static str,
    /// The answers to choose from, in display order.
    pub options: &'static [&'static str],
    /// Index in `options` of the right answer.
    pub correct: usize,
    /// Why the right answer is right; shown after grading.
    pub explanation: &'static str,
}

impl Course {
    /// The question with this id, if it is in this course's bank.
    pub fn question(&self, id: &str) -> Option<&'static Question> {
        let bank: &'static [Question] = self.bank;
        bank.iter().find(|q| q.id == id)
    }

    /// The module with this key, if the course has one.
    pub fn module(&self, key: &str) -> Option<&'static CourseModule> {
        let modules: &'static [CourseModule] = self.modules;
        modules.iter().find(|m| m.key == key)
    }

    /// The questions about one module, in bank order.
    pub fn questions_for<'a>(
        &self,
        module: &'a str,
    ) -> impl Iterator<Item = &'static Question> + 'a {
        let bank: &'static [Question] = self.bank;
        bank.iter().filter(move |q| q.module == module)
    }
}

/// Every course, in the order a researcher meets them.
pub static COURSES: &[&Course] = &[&RESPONSIBLE_CONDUCT, &CONTROLLED_TIER];

/// The course with this key (`"rt"` or `"ct"`).
pub fn course(key: &str) -> Option<&'static Course> {
    COURSES.iter().copied().find(|c| c.key == key)
}

/// How an assessment is run: its length, the pass mark, how often it may be attempted and the
/// wait before a retake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssessmentPolicy {
    /// How many questions one attempt asks.
    pub questions_per_attempt: usize,
    /// The lowest score, in whole percent, that passes.
    pub pass_percent: u32,
    /// How long after a failed attempt the next one may start; 0 or less means at once.
    pub retake_wait_hours: i64,
    /// At most this many attempts may start in any 24 hours (a rolling window: an attempt
    /// counts until 24 hours after it started); 0 means no limit.
    pub attempts_per_day: u32,
}

impl Default for AssessmentPolicy {
    /// Ten questions, 80% to pass, a retake at once after a failed attempt, and at most 3
    /// attempts in any 24 hours. Each attempt draws its questions afresh ([`draw_avoiding`]),
    /// so a retake at once asks mostly other questions, and the daily limit keeps guessing
    /// through the bank slow.
    fn default() -> Self {
        Self {
            questions_per_attempt: 10,
            pass_percent: 80,
            retake_wait_hours: 0,
            attempts_per_day: 3,
        }
    }
}

impl AssessmentPolicy {
    /// The policy for one course: the default, except that the shorter Controlled Tier course
    /// asks 8 questions.
    pub fn for_course(course: &Course) -> Self {
        let mut policy = Self::default();
        if course.key == CONTROLLED_TIER.key {
            policy.questions_per_attempt = 8;
        }
        policy
    }
}

/// The splitmix64 generator: small, fast and fully determined by its seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`; `bound` must not be 0.
    fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }
}

/// Chooses the questions for one attempt: `n` distinct question ids (all of the bank when `n`
/// is larger), in the order they are asked.
///
/// The choice depends only on the course, `seed` and `n`, so an attempt can be rebuilt from
/// its seed. When `n` is at least the number of modules, every module that has questions gets
/// at least one.
pub fn draw(course: &Course, seed: u64, n: usize) -> Vec<&'static str> {
    draw_avoiding(course, seed, n, &[])
}

/// Like [`draw`], but questions in `avoid` (those the previous attempt asked) are chosen only
/// when the others do not suffice: for `n` and every module's share, unseen questions come
/// first. With no `avoid` it is exactly [`draw`]. The result still depends only on its
/// arguments, and the order of asking is the seed's shuffle whichever questions are chosen.
pub fn draw_avoiding(course: &Course, seed: u64, n: usize, avoid: &[&str]) -> Vec<&'static str> {
    let bank: &'static [Question] = course.bank;
    let n = n.min(bank.len());
    let mut rng = SplitMix64(seed);
    // Fisher-Yates shuffle of the bank's indices; this is also the order the questions are asked.
    let mut order: Vec<usize> = (0..bank.len()).collect();
    for i in (1..order.len()).rev() {
        let j = rng.below(i + 1);
        order.swap(i, j);
    }
    // The order of preference: unseen questions first, each group in the shuffled order.
    let seen = |i: &usize| avoid.contains(&bank[*i].id);
    let preference: Vec<usize> = order
        .iter()
        .copied()
        .filter(|i| !seen(i))
        .chain(order.iter().copied().filter(|i| seen(i)))
        .collect();
    let mut chosen = vec![false; bank.len()];
    let mut count = 0;
    if n >= course.modules.len() {
        for module in course.modules {
            if let Some(&i) = preference.iter().find(|&&i| bank[i].module == module.key) {
                chosen[i] = true;
                count += 1;
            }
        }
    }
    for &i in &preference {
        if count >= n {
            break;
        }
        if !chosen[i] {
            chosen[i] = true;
            count += 1;
        }
    }
    order
        .into_iter()
        .filter(|&i| chosen[i])
        .map(|i| bank[i].id)
        .collect()
}

/// The score of a graded attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grade {
    /// Questions answered with the right option.
    pub correct: usize,
    /// Questions asked.
    pub total: usize,
    /// `correct` as a whole percentage of `total`, rounded down (0 when nothing was asked).
    pub percent: u32,
    /// Whether `percent` reaches the policy's pass mark.
    pub passed: bool,
    /// The ids of the questions answered wrongly, in the order they were asked.
    pub wrong: Vec<&'static str>,
}

/// Why a submitted attempt cannot be graded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GradeError {
    /// An answer names a question that this attempt did not ask.
    #[error("Question {0} was not part of this attempt, so an answer to it cannot be counted.")]
    NotAsked(String),
    /// Questions the attempt asked have no answer: each as its number on the page (from 1, in
    /// the order asked) and its id, in that order.
    #[error("{}", unanswered_sentence(.0))]
    Unanswered(Vec<(usize, String)>),
    /// A question is asked, or answered, more than once.
    #[error("Question {0} appears more than once; each question is asked and answered once.")]
    Duplicate(String),
    /// An answer picks an option the question does not have.
    #[error("The answer given to question {0} is not one of its options.")]
    NoSuchOption(String),
    /// The attempt asked a question that is not in the course's bank.
    #[error("Question {0} is not in this course's question bank.")]
    UnknownQuestion(String),
}

/// "Question 5 has no answer." or "Questions 2 and 5 have no answer.", naming questions by
/// their number on the page.
fn unanswered_sentence(missing: &[(usize, String)]) -> String {
    let numbers: Vec<String> = missing.iter().map(|(n, _)| n.to_string()).collect();
    let tail = "Answer every question before submitting.";
    match numbers.as_slice() {
        [] => tail.to_owned(),
        [one] => format!("Question {one} has no answer. {tail}"),
        [init @ .., last] => format!(
            "Questions {} and {last} have no answer. {tail}",
            init.join(", ")
        ),
    }
}

/// Grades an attempt. `asked` are the ids the attempt asked (as [`draw`] returned them) and
/// `answers` pairs a question id with the index of the chosen option, in any order.
///
/// Every asked question must be answered exactly once, and only asked questions may be
/// answered. The score is rounded down to a whole percent and passes when it reaches
/// `policy.pass_percent`; an attempt that asked nothing never passes.
pub fn grade(
    course: &Course,
    asked: &[&str],
    answers: &[(String, usize)],
    policy: &AssessmentPolicy,
) -> Result<Grade, GradeError> {
    let mut questions: Vec<&'static Question> = Vec::with_capacity(asked.len());
    for &id in asked {
        let question = course
            .question(id)
            .ok_or_else(|| GradeError::UnknownQuestion(id.to_owned()))?;
        if questions.iter().any(|q| q.id == question.id) {
            return Err(GradeError::Duplicate(id.to_owned()));
        }
        questions.push(question);
    }
    let mut chosen: Vec<Option<usize>> = vec![None; questions.len()];
    for (id, option) in answers {
        let Some(pos) = questions.iter().position(|q| q.id == id) else {
            return Err(GradeError::NotAsked(id.clone()));
        };
        if chosen[pos].is_some() {
            return Err(GradeError::Duplicate(id.clone()));
        }
        if *option >= questions[pos].options.len() {
            return Err(GradeError::NoSuchOption(id.clone()));
        }
        chosen[pos] = Some(*option);
    }
    let missing: Vec<(usize, String)> = questions
        .iter()
        .zip(&chosen)
        .enumerate()
        .filter(|(_, (_, answer))| answer.is_none())
        .map(|(i, (q, _))| (i + 1, q.id.to_owned()))
        .collect();
    if !missing.is_empty() {
        return Err(GradeError::Unanswered(missing));
    }
    let mut correct: usize = 0;
    let mut wrong = Vec::new();
    for (question, answer) in questions.iter().zip(&chosen) {
        match answer {
            Some(a) if *a == question.correct => correct += 1,
            _ => wrong.push(question.id),
        }
    }
    let total = questions.len();
    let percent = (correct * 100)
        .checked_div(total)
        .map_or(0, |p| u32::try_from(p).unwrap_or(100));
    Ok(Grade {
        correct,
        total,
        percent,
        passed: total > 0 && percent >= policy.pass_percent,
        wrong,
    })
}

/// When a retake becomes possible: `Some(time)` (Unix seconds) while the wait after the latest
/// failed attempt, `last_failed_at`, has not yet passed at `now`; `None` when a retake is
/// allowed now (including when no attempt has failed).
pub fn retake_wait(
    last_failed_at: Option<i64>,
    policy: &AssessmentPolicy,
    now: i64,
) -> Option<i64> {
    let failed_at = last_failed_at?;
    let wait = policy.retake_wait_hours.max(0).saturating_mul(3600);
    let allowed_at = failed_at.saturating_add(wait);
    (now < allowed_at).then_some(allowed_at)
}

/// Seconds in the rolling window of [`AssessmentPolicy::attempts_per_day`].
pub const DAY_SECONDS: i64 = 24 * 3600;

/// Why a new attempt cannot start yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotYet {
    /// The wait after the latest failed attempt runs until `until`.
    RetakeWait { until: i64 },
    /// `limit` attempts started in the 24 hours before now; the next may start at `until`,
    /// 24 hours after the oldest of them.
    DailyLimit { until: i64, limit: u32 },
}

impl NotYet {
    /// When the next attempt may start (Unix seconds).
    pub fn until(&self) -> i64 {
        match *self {
            NotYet::RetakeWait { until } | NotYet::DailyLimit { until, .. } => until,
        }
    }
}

/// Whether a new attempt may start at `now`, given when the user's earlier attempts at this
/// course started (`started_at`, any order) and when the latest failed one was submitted.
/// When both the retake wait and the daily limit hold it back, the one that ends later is
/// reported, so its time is when an attempt really becomes possible.
pub fn may_start_attempt(
    started_at: &[i64],
    last_failed_at: Option<i64>,
    policy: &AssessmentPolicy,
    now: i64,
) -> Result<(), NotYet> {
    let wait = retake_wait(last_failed_at, policy, now).map(|until| NotYet::RetakeWait { until });
    let limit = policy.attempts_per_day;
    let daily = if limit == 0 {
        None
    } else {
        let mut recent: Vec<i64> = started_at
            .iter()
            .copied()
            .filter(|&t| t <= now && now < t.saturating_add(DAY_SECONDS))
            .collect();
        recent.sort_unstable();
        let limit_len = limit as usize;
        // With k >= limit recent starts, a slot frees when the (k - limit + 1)-th oldest
        // leaves the window.
        (recent.len() >= limit_len).then(|| NotYet::DailyLimit {
            until: recent[recent.len() - limit_len].saturating_add(DAY_SECONDS),
            limit,
        })
    };
    match (wait, daily) {
        (None, None) => Ok(()),
        (Some(x), None) | (None, Some(x)) => Err(x),
        (Some(w), Some(d)) => Err(if d.until() >= w.until() { d } else { w }),
    }
}

/// How many more attempts may start at `now` under the daily limit: `None` when there is no
/// limit.
pub fn attempts_left(started_at: &[i64], policy: &AssessmentPolicy, now: i64) -> Option<u32> {
    (policy.attempts_per_day > 0).then(|| {
        let recent = started_at
            .iter()
            .filter(|&&t| t <= now && now < t.saturating_add(DAY_SECONDS))
            .count();
        policy
            .attempts_per_day
            .saturating_sub(u32::try_from(recent).unwrap_or(u32::MAX))
    })
}

/// The sentences the course and assessment pages show about `policy` for `course`, for example
/// "The assessment asks 10 of the 25 questions in its question bank, drawn afresh for each
/// attempt. You pass with 80% or more. You can start at most 3 attempts in any 24 hours, and
/// after a failed attempt you can retake it immediately."
pub fn policy_statement(course: &Course, policy: &AssessmentPolicy) -> String {
    let bank = course.bank.len();
    let asked = policy.questions_per_attempt.min(bank);
    let questions = match asked {
        0 => "The assessment has no questions, so no attempt can pass.".to_owned(),
        n if n == bank && n == 1 => {
            "The assessment asks the 1 question in its question bank.".to_owned()
        }
        n if n == bank => format!(
            "The assessment asks all {n} questions in its question bank, in a new order for each \
             attempt."
        ),
        1 => format!(
            "The assessment asks 1 of the {bank} questions in its question bank, drawn afresh \
             for each attempt."
        ),
        n => format!(
            "The assessment asks {n} of the {bank} questions in its question bank, drawn afresh \
             for each attempt."
        ),
    };
    let pass = match policy.pass_percent {
        _ if asked == 0 => None,
        0 => Some("Every completed attempt passes.".to_owned()),
        100 => Some("You pass only with every answer correct.".to_owned()),
        p if p > 100 => Some("No score passes this assessment.".to_owned()),
        p => Some(format!("You pass with {p}% or more.")),
    };
    let retake = match policy.retake_wait_hours {
        h if h <= 0 => "after a failed attempt you can retake it immediately".to_owned(),
        1 => "after a failed attempt you can retake it after 1 hour".to_owned(),
        h => format!("after a failed attempt you can retake it after {h} hours"),
    };
    let attempts = match policy.attempts_per_day {
        0 => format!("There is no limit on attempts, and {retake}."),
        1 => format!("You can start at most 1 attempt in any 24 hours, and {retake}."),
        n => format!("You can start at most {n} attempts in any 24 hours, and {retake}."),
    };
    let mut sentences = vec![questions];
    sentences.extend(pass);
    sentences.push(attempts);
    sentences.join(" ")
}

/// The Registered Tier course every researcher completes before using the data.
pub static RESPONSIBLE_CONDUCT: Course = Course {
    key: "rt",
    title: "Responsible Conduct of Research",
    summary: "How to use participants' data in the Researcher Workbench responsibly: what the \
        data is and why participants shared it, how to protect their privacy, the rule for \
        sharing small counts, how to keep the data secure, and the commitments of the Data User \
        Code of Conduct.",
    modules: &[
        CourseModule {
            key: "data",
            title: "The data and why participants shared it",
            paragraphs: &[
                "The Researcher Workbench gives approved researchers access to data that \
                participants in the program chose to share: their answers to surveys, their \
                electronic health records, physical measurements taken when they enrolled, data \
                from wearable devices and, for many of them, data derived from the blood and \
                saliva samples they gave. Health record data from many different health care \
                organizations is converted to one common data model, so that a diagnosis, a \
                medication or a laboratory result is recorded the same way wherever it came from.",
                "Participants are volunteers. They gave their time, their records and sometimes \
                their samples because they want research to improve health for people like them, \
                including communities that research has long left out or treated badly. They \
                agreed to a broad range of research uses, but they did not hand over control of \
                their information: they trusted the program, and every researcher who uses the \
                data, to protect it. Participants can withdraw at any time, and data releases made \
                after a withdrawal no longer include that person's data.",
                "Access to the data is for research, and only for the research you describe. All \
                work happens inside a workspace in the Researcher Workbench, and every workspace \
                has a research purpose statement. The program makes these statements public, \
                together with your name and affiliation, so that participants and anyone else can \
                see how the data is being used and by whom. This openness is part of the program's \
                commitment to participants.",
                "A good research purpose statement says, in plain language a participant could \
                follow, what question you want to answer, how you plan to answer it with the data, \
                what you expect to learn, and how you will share the results. It must be honest \
                and specific: a statement such as 'exploring the data' does not tell anyone what \
                you are doing. When your project changes direction, update the statement, or \
                create a new workspace, before you start the new work.",
                "Acceptable uses include studies of health and disease, of the social and \
                environmental factors that shape health, of how health care is delivered, the \
                development and testing of research methods, and teaching that takes place inside \
                the Researcher Workbench. The data may never be used to make decisions about \
                individual people, such as their insurance, employment, credit or legal matters, \
                and never to find out who a participant is.",
            ],
        },
        CourseModule {
            key: "privacy",
            title: "Privacy and re-identification risk",
            paragraphs: &[
                "Before data reaches the Researcher Workbench, the program removes direct \
                identifiers such as names, street addresses, telephone numbers, e-mail addresses \
                and medical record numbers. In the Registered Tier it also shifts every \
                participant's dates by a random amount, which is the same for all of that person's \
                records so that the intervals between their events are kept, and it generalizes or \
                removes values that are rare enough to point at one person. This lowers the risk \
                that someone can be recognized. It does not remove it.",
                "Re-identification rarely needs a name. Details that are common on their own \
                become unique in combination: an age over 90, a rare diagnosis and a small region \
                may together describe a single person. Someone who also knows facts from outside \
                the data, such as an obituary, a news story about an accident or a post on social \
                media, may then be able to say who that person is. The more detail a record has, \
                and the more outside information exists, the easier this becomes.",
                "For this reason you must never try to learn the identity of a participant or of a \
                relative, whatever the motive, and never try to test how well the data has been \
                de-identified. Do not link participant records to outside data about individuals, \
                such as registries, customer lists or public records that carry names or exact \
                birth dates, and do not upload such data into the Researcher Workbench. Data about \
                places or groups, such as the air quality of a region, can be used when the link \
                is made at the level of the place or group and your research purpose statement \
                describes it.",
                "If you recognize a participant by accident, for example because a combination of \
                details matches someone you know, stop. Do not write the identity down, do not \
                look for more records to confirm it, and do not tell anyone who the person is. \
                Report what happened to the program so it can judge whether the data needs more \
                protection.",
                "Re-identification can hurt people. A participant may face embarrassment, \
                discrimination or distress if a condition they kept private becomes known, and \
                their family and community can be affected too. It also damages the trust on which \
                the whole program rests: if participants stop believing their data is safe, they \
                leave, fewer people join, and every researcher loses.",
            ],
        },
        CourseModule {
            key: "dissemination",
            title: "Sharing results: the rule for small counts",
            paragraphs: &[
                "The program has one rule for everything you share from your work: a count of 1 to \
                20 participants is never published or shared, and neither is anything from which \
                such a count can be derived. A count of 0 may be shown, and so may any count above \
                20. The rule protects participants because a small group is easy to single out: \
                the fewer people a number describes, the more it reveals about each of them.",
                "The rule covers every way results leave the Researcher Workbench: journal \
                articles, preprints, posters, slides, theses, reports, blog posts, code \
                repositories, and e-mails or chat messages to colleagues, including colleagues at \
                your own institution who are not working with you in the workspace. It covers \
                figures as well as tables: a histogram bar, a point on a scatter plot, a step in a \
                survival curve or a table of numbers at risk can each show a small group.",
                "A count can be derived in many ways. A percentage with a known denominator gives \
                it back: 4% of 250 participants is 10. Totals give away a hidden cell: if a table \
                shows 530 participants in all and 515 in group A, group B has 15. Overlapping \
                tables, a minimum or maximum that describes a single person, or results reported \
                in two papers about nearly the same group can do the same. Counts of events are \
                not safe either when they come from few people: 40 hospital visits made by 3 \
                participants describe a group of 3.",
                "To report a small group, show it as '20 or fewer', or merge categories, widen age \
                bands or time intervals until every group has more than 20 participants. Then \
                check that no total, percentage or neighboring cell lets a reader work the hidden \
                number out, and hide or merge a second cell when one is needed to stop that. Do \
                not replace a small count with a slightly different number: a false value is not \
                protection, and it makes your results wrong.",
                "Before anything leaves the Researcher Workbench, read every number and every \
                figure in it with this rule in mind, and export only aggregate results. \
                Participant-level data is never exported, however small or large the group. If you \
                are unsure whether a result is safe to share, ask the program before you share it.",
            ],
        },
        CourseModule {
            key: "security",
            title: "Keeping the data secure",
            paragraphs: &[
                "Your account is yours alone. Never tell anyone your password, never let anyone \
                work under your sign-in, even a colleague who is waiting for their own access, and \
                never use an account that belongs to someone else or to a whole team. Everything \
                done under your account is treated as done by you. Use a strong password that you \
                use nowhere else; a password manager makes this easy.",
                "The Researcher Workbench requires 2-step verification. After your password you \
                confirm each sign-in with a second factor, such as a code from an authenticator \
                app or a security key, so that a stolen password alone is not enough to reach \
                participant data. Keep your second factor and any recovery codes safe. If you lose \
                them, ask for help through the Researcher Workbench; do not look for a way around \
                the check.",
                "Participant-level data stays inside the Researcher Workbench. Do not download it, \
                copy it to your computer or to other storage, attach it to an e-mail, paste it \
                into tools or services outside the Researcher Workbench, or take screenshots or \
                photographs of it. Your analyses run inside the Researcher Workbench, and only \
                aggregate results that follow the rule for small counts may leave it.",
                "Take care of the place you work from. Lock your screen when you step away, sign \
                out on shared computers, and make sure nobody can read your screen in a public \
                place. Upload only software, files and external data that you trust and that your \
                research needs, and never install tools that send data to outside services. \
                Remember that what you upload is logged and may be reviewed.",
                "Report any incident to the program as soon as you notice it: a password you may \
                have disclosed, a lost device with an open session, participant-level data that \
                left the Researcher Workbench, a small count that was shared, or a participant you \
                recognized. Prompt reporting limits the harm and lets the program act quickly. \
                Hiding an incident makes it much worse for participants and for you.",
            ],
        },
        CourseModule {
            key: "conduct",
            title: "The Data User Code of Conduct and stigmatizing research",
            paragraphs: &[
                "Before you can use the data you agree to the Data User Code of Conduct and \
                initial each of its statements. It is a personal commitment: your work in the \
                Researcher Workbench, including any external data, files or software you upload, \
                is logged and may be reviewed; your name, affiliation, profile information and \
                research descriptions are made public; and the program keeps the discretion to \
                decide about your access, including suspending it for violations.",
                "You also commit to the rules this course explains: never try to re-identify \
                participants, never publish or share counts of 1 to 20 participants or anything \
                they can be derived from, never share your credentials or move data out of the \
                Researcher Workbench, and use the data only for the research purposes you have \
                stated.",
                "Violations have consequences. Besides the suspension or ending of your access, \
                they can include the posting of your name and affiliation on a public list of \
                people who have violated the code, the notification of the agencies that fund your \
                research, and financial or legal consequences.",
                "Research can harm groups as well as individuals. Stigmatizing research presents a \
                group, defined for example by race, ethnicity, sex, gender identity, sexual \
                orientation, disability, income or where people live, as inferior, blameworthy or \
                inherently less healthy, or uses labels that demean it. Many participants belong \
                to communities that research has harmed in the past, and they joined trusting that \
                it would not happen again. A finding that a disease is more common in one group is \
                not stigmatizing in itself; explaining it without evidence as an innate trait of \
                that group, or presenting it in a way that invites blame, can be.",
                "To avoid it, consider social and structural explanations such as access to care, \
                income, environment and discrimination alongside biological ones. Do not treat \
                race or ethnicity as a biological category. Describe groups in the terms people \
                use for themselves, state the limits of your data, and, where you can, involve \
                members of the communities you study in shaping the questions and reading the \
                results. When your research focuses on a group that has been underrepresented or \
                harmed, say so in your research purpose statement and describe how you will guard \
                against harm.",
            ],
        },
    ],
    bank: &[
        Question {
            id: "rt-data-1",
            module: "data",
            prompt: "Why did participants share their data with the program?",
            options: &[
                "Because sharing was required to receive medical care",
                "To help research that improves health for people like them",
                "So that companies could market products to them",
                "So that their own doctors could read their survey answers",
            ],
            correct: 1,
            explanation: "Participants are volunteers who chose to take part so that research \
                could improve health, and they trust researchers to protect their data.",
        },
        Question {
            id: "rt-data-2",
            module: "data",
            prompt: "What is a research purpose statement?",
            options: &[
                "A plain-language description of a workspace's research question, approach, \
                expected findings and plans for sharing results, which the program makes public",
                "A private note that only you can read",
                "A list of your previous publications",
                "A contract you sign with each participant",
            ],
            correct: 0,
            explanation: "Every workspace has a research purpose statement. The program publishes \
                it so that participants and the public can see how the data is used.",
        },
        Question {
            id: "rt-data-3",
            module: "data",
            prompt: "Your workspace studies asthma in adults. You now want to study asthma \
                medication use in children. What should you do?",
            options: &[
                "Nothing: the workspace is already approved for asthma research",
                "Update the statement after the results are published",
                "Ask a few participants whether they mind",
                "Update the research purpose statement, or create a new workspace, before starting \
                the new analysis",
            ],
            correct: 3,
            explanation: "The data may be used only for the purposes you describe, so the \
                statement must describe the new work before you begin it.",
        },
        Question {
            id: "rt-data-4",
            module: "data",
            prompt: "Which of these is a use the data can support?",
            options: &[
                "Deciding whether a particular participant should be offered insurance",
                "Finding a participant's address to invite them to another study",
                "Studying how sleep measured by wearable devices relates to blood pressure",
                "Checking whether a job applicant is a participant",
            ],
            correct: 2,
            explanation: "Research on health is an acceptable use. Decisions about individuals, \
                contacting participants and finding out who they are never are.",
        },
        Question {
            id: "rt-data-5",
            module: "data",
            prompt: "What happens when a participant withdraws from the program?",
            options: &[
                "Their data stays in every future data release",
                "Data releases made after the withdrawal no longer include that person's data",
                "Each researcher must find and delete that participant's rows",
                "The participant's name is published so researchers can remove them",
            ],
            correct: 1,
            explanation: "Withdrawal is always possible; later data releases leave the person \
                out. Researchers never need, and must never try, to find out who withdrew.",
        },
        Question {
            id: "rt-privacy-1",
            module: "privacy",
            prompt: "Names and addresses have been removed from the data. Which statement is \
                true?",
            options: &[
                "Combinations of the remaining details can still single out a person, so the risk \
                of re-identification remains",
                "Nobody can be identified any more, so no further care is needed",
                "Only genomic data can identify a person",
                "A person can be re-identified only with their password",
            ],
            correct: 0,
            explanation: "Removing direct identifiers lowers the risk but does not remove it: \
                quasi-identifiers in combination can describe one person.",
        },
        Question {
            id: "rt-privacy-2",
            module: "privacy",
            prompt: "Which of these carries the highest risk of re-identification?",
            options: &[
                "Body mass index on its own",
                "The most common blood type",
                "Whether a participant completed a survey",
                "An age over 90, a rare diagnosis and a small region, taken together",
            ],
            correct: 3,
            explanation: "Each detail may be common, but together they can describe a single \
                person.",
        },
        Question {
            id: "rt-privacy-3",
            module: "privacy",
            prompt: "While exploring records, you realize that one participant is almost \
                certainly your neighbor. What should you do?",
            options: &[
                "Look at other records to confirm it",
                "Tell your colleagues so they can avoid the record",
                "Stop, do not record or share what you recognized, and report it to the program",
                "Delete the participant's records from your copy of the data",
            ],
            correct: 2,
            explanation: "Confirming or sharing the identity would make the harm worse. Reporting \
                lets the program decide whether the data needs more protection.",
        },
        Question {
            id: "rt-privacy-4",
            module: "privacy",
            prompt: "You want to join participant records to a purchased list of people with \
                their names and birth dates. Is this allowed?",
            options: &[
                "Yes, if the list is kept inside your workspace",
                "No: linking the data to outside records about named people is an attempt to \
                re-identify participants",
                "Yes, if you delete the names after the join",
                "Yes, as long as it is only a pilot analysis",
            ],
            correct: 1,
            explanation: "Linking to identified data about individuals is forbidden whatever \
                happens to the names afterwards.",
        },
        Question {
            id: "rt-privacy-5",
            module: "privacy",
            prompt: "Who can be harmed if a participant is re-identified?",
            options: &[
                "The participant, their family and community, and the trust the whole program \
                depends on",
                "Only the participant who was identified",
                "Nobody, because the data was de-identified",
                "Only the researcher who identified them",
            ],
            correct: 0,
            explanation: "Harm reaches beyond the individual: families, communities and the \
                willingness of people to take part in research are all affected.",
        },
        Question {
            id: "rt-dissemination-1",
            module: "dissemination",
            prompt: "Which of these counts of participants may never appear in a publication?",
            options: &["0", "21", "12", "3,400"],
            correct: 2,
            explanation: "Counts of 1 to 20 participants are never published or shared. A count \
                of 0 and counts above 20 may be.",
        },
        Question {
            id: "rt-dissemination-2",
            module: "dissemination",
            prompt: "Your table reports 250 participants with a condition and says that 4% of \
                them had a complication. What is the problem?",
            options: &[
                "There is none: percentages may always be shown",
                "The percentage should have two decimal places",
                "4% of 250 is 10, so the percentage reveals a count of 1 to 20 participants",
                "A total of 250 is too large to publish",
            ],
            correct: 2,
            explanation: "Anything from which a count of 1 to 20 can be derived is covered by the \
                rule, including a percentage with a known denominator.",
        },
        Question {
            id: "rt-dissemination-3",
            module: "dissemination",
            prompt: "A subgroup in your results has 14 participants. How can you report it?",
            options: &[
                "As 14, if the table is only in the supplementary material",
                "As '20 or fewer', checking that no other number in the table lets a reader work \
                it out",
                "As 14 on a slide but not in the paper",
                "As 13, so that the true number is not shown",
            ],
            correct: 1,
            explanation: "Suppress or merge small groups and check that totals and neighboring \
                cells do not reveal them. A false value is not protection.",
        },
        Question {
            id: "rt-dissemination-4",
            module: "dissemination",
            prompt: "A table shows 530 participants in all, 515 in group A and 'fewer than 21' in \
                group B. Is it safe to share?",
            options: &[
                "No: subtracting 515 from 530 shows that group B has 15 participants",
                "Yes, because group B is suppressed",
                "Yes, because every number shown is above 20",
                "No, because 515 is an odd number",
            ],
            correct: 0,
            explanation: "A suppressed cell can be recovered from totals, so a second cell or the \
                total must be hidden or merged too.",
        },
        Question {
            id: "rt-dissemination-5",
            module: "dissemination",
            prompt: "You want to send a results table by e-mail to a colleague at your \
                institution who is not working in your workspace. Does the rule for small counts \
                apply?",
            options: &[
                "No, it applies only to journal articles",
                "No, because the colleague is at the same institution",
                "Only if the e-mail contains more than one table",
                "Yes: it applies to any sharing outside the Researcher Workbench, including \
                e-mails, slides and code repositories",
            ],
            correct: 3,
            explanation: "The rule covers every way results leave the Researcher Workbench, not \
                only publications.",
        },
        Question {
            id: "rt-security-1",
            module: "security",
            prompt: "A colleague whose access has not yet been approved asks to use your account \
                for a day. What do you do?",
            options: &[
                "Share your password and change it afterwards",
                "Sign in for them and let them work at your computer",
                "Refuse: your credentials are personal and nobody else may work under your account",
                "Agree, if they have already completed the training",
            ],
            correct: 2,
            explanation: "Everything done under your account is treated as done by you, and \
                sharing access breaks the Data User Code of Conduct.",
        },
        Question {
            id: "rt-security-2",
            module: "security",
            prompt: "Why does the Researcher Workbench require 2-step verification?",
            options: &[
                "To make signing in slower",
                "So that a stolen password alone is not enough to reach participant data",
                "To record where you are working from",
                "Because passwords are not checked",
            ],
            correct: 1,
            explanation: "A second factor protects the data even when a password has been stolen \
                or guessed.",
        },
        Question {
            id: "rt-security-3",
            module: "security",
            prompt: "Which of these may you take out of the Researcher Workbench?",
            options: &[
                "An aggregate results table in which every count of participants is 0 or above 20",
                "A file of participant-level records to analyze on your laptop",
                "A screenshot of a table showing individual participants",
                "A sample of 100 participants' records for a class",
            ],
            correct: 0,
            explanation: "Participant-level data never leaves the Researcher Workbench; aggregate \
                results that follow the rule for small counts may.",
        },
        Question {
            id: "rt-security-4",
            module: "security",
            prompt: "You realize you e-mailed a collaborator a table that contains a count of 7 \
                participants. What should you do?",
            options: &[
                "Nothing: it was only one e-mail",
                "Wait and see whether the collaborator mentions it",
                "Change the count in your workspace so the records match",
                "Ask the collaborator to delete it and report the incident to the program right \
                away",
            ],
            correct: 3,
            explanation: "Prompt reporting limits the harm. Incidents must be reported, not \
                hidden.",
        },
        Question {
            id: "rt-security-5",
            module: "security",
            prompt: "To debug your code, you want to paste a few participant-level rows into an \
                online tool outside the Researcher Workbench. Is that allowed?",
            options: &[
                "Yes, if the tool is free to use",
                "Yes, if you remove the participant identifier column",
                "No: participant-level data must never leave the Researcher Workbench",
                "Yes, if you paste fewer than 20 rows",
            ],
            correct: 2,
            explanation: "Any participant-level data, however few rows, must stay inside the \
                Researcher Workbench.",
        },
        Question {
            id: "rt-conduct-1",
            module: "conduct",
            prompt: "What does the Data User Code of Conduct say about your work in the \
                Researcher Workbench?",
            options: &[
                "It is private and never reviewed",
                "It is logged and may be reviewed, including external data, files and software you \
                upload",
                "Only failed sign-ins are logged",
                "It is logged only in the Controlled Tier",
            ],
            correct: 1,
            explanation: "Logging and review protect participants and are one of the statements \
                you initial.",
        },
        Question {
            id: "rt-conduct-2",
            module: "conduct",
            prompt: "Which of these is a possible consequence of violating the Data User Code of \
                Conduct?",
            options: &[
                "The posting of your name and affiliation on a public list of violators",
                "A private warning that is never recorded",
                "Faster access to the Controlled Tier",
                "None: the code is only advice",
            ],
            correct: 0,
            explanation: "Consequences include suspension of access, a public list of violators, \
                notification of funding agencies, and financial or legal consequences.",
        },
        Question {
            id: "rt-conduct-3",
            module: "conduct",
            prompt: "Which way of presenting a result risks stigmatizing a group?",
            options: &[
                "Examining how distance to clinics affects diabetes care in rural communities",
                "Stating that the results may not apply beyond the people studied",
                "Describing groups in the terms their members use for themselves",
                "Presenting a difference in disease rates between racial groups as an innate \
                biological trait without considering social and structural factors",
            ],
            correct: 3,
            explanation: "Race and ethnicity are not biological categories; attributing \
                differences to innate traits without evidence can stigmatize a group.",
        },
        Question {
            id: "rt-conduct-4",
            module: "conduct",
            prompt: "What information about you is made public?",
            options: &[
                "Your home address",
                "Nothing at all",
                "Your name, affiliation, profile information and research descriptions",
                "Your sign-in history",
            ],
            correct: 2,
            explanation: "The program publishes who uses the data and for what, so participants \
                and the public can see it.",
        },
        Question {
            id: "rt-conduct-5",
            module: "conduct",
            prompt: "Who decides whether your access is suspended for a violation?",
            options: &[
                "Your institution alone",
                "The program, which keeps the discretion to make decisions about your access",
                "Your co-authors",
                "Nobody: access cannot be suspended",
            ],
            correct: 1,
            explanation: "You agree to this when you initial the Data User Code of Conduct.",
        },
    ],
};

/// The additional course for the Controlled Tier.
pub static CONTROLLED_TIER: Course = Course {
    key: "ct",
    title: "Controlled Tier Training",
    summary: "What the Controlled Tier adds to the Registered Tier, why its data carries a higher \
        risk of re-identification, which uses are acceptable, and the extra care its results need \
        before they are shared.",
    modules: &[
        CourseModule {
            key: "tier",
            title: "What the Controlled Tier adds",
            paragraphs: &[
                "The Controlled Tier contains everything in the Registered Tier and adds data that \
                is more useful for research and more sensitive. It holds genomic data, such as \
                whole genome sequences and genotyping array results, and variant data derived from \
                them. It keeps dates as they occurred instead of shifting them. And it has more \
                detailed demographic data, where the Registered Tier combines or removes \
                categories that describe few people.",
                "These additions make new research possible. Genomic data supports studies of how \
                genetic variation relates to disease and to the response to medicines. Real dates \
                let you place events on the calendar: seasonal patterns, the effect of a policy \
                that began on a known day, or the course of an epidemic. Detailed demographic data \
                lets you study groups that broader categories hide.",
                "You can reach the Controlled Tier only if you hold Registered Tier access, your \
                institution's agreement with the program covers the Controlled Tier, and you have \
                completed this course. Everything you learned for the Registered Tier still \
                applies: the research purpose statement, the rule for small counts, the security \
                rules and the Data User Code of Conduct.",
                "Controlled Tier data is used in Controlled Tier workspaces only. Do not copy \
                Controlled Tier data or participant-level results into a Registered Tier \
                workspace, and share a Controlled Tier workspace only with people who have \
                Controlled Tier access themselves.",
            ],
        },
        CourseModule {
            key: "risk",
            title: "Heightened re-identification risk and genomic data",
            paragraphs: &[
                "A genome is unique to a person, apart from identical twins, and it cannot be \
                changed the way a password or an address can. It cannot be truly de-identified: \
                removing the name leaves the information that makes it unique. Once a genome has \
                been linked to a person, that link cannot be undone.",
                "Genomic data also describes people who never joined the program. Parents, \
                children, brothers, sisters and more distant relatives share part of a \
                participant's genome. Millions of people have placed their DNA in genealogy \
                databases, and matches with distant cousins there, combined with family trees and \
                public records, have been used to name people whose genomes were anonymous. \
                Surnames, which often pass from father to son, can sometimes be inferred from the \
                Y chromosome alone.",
                "The other additions raise the risk too. An exact date of a hospital admission, a \
                birth or an accident can be matched with a news report, a social media post or an \
                obituary. Detailed demographic categories make small groups more common. Together, \
                exact dates, detailed demographics and a rare variant can point at one person even \
                when each of them alone would not.",
                "So take extra care. Never upload participant genomic data to any service outside \
                the Researcher Workbench, such as a genealogy site or an outside imputation \
                server, and never compare participant genomes with outside genetic databases. \
                Never extract an individual's sequence or genotypes to look at them outside your \
                analysis, and never try to work out who a participant or a relative is.",
            ],
        },
        CourseModule {
            key: "uses",
            title: "Acceptable and unacceptable uses",
            paragraphs: &[
                "Acceptable uses of Controlled Tier data are research uses described in your \
                research purpose statement: for example genome-wide association studies, research \
                on polygenic scores, studies of how genetic variants change the response to \
                medicines, the use of genetic ancestry to account for population structure, \
                analyses of seasonal or calendar-time patterns, and the development of methods for \
                such work.",
                "Some uses are never acceptable. You may not try to identify participants or their \
                relatives, determine whether particular people are related to each other, help any \
                party such as a court, the police, an employer or an insurer learn about an \
                individual, or contact participants. You may not use the data to argue that one \
                population group is biologically superior or inferior to another.",
                "Genetic ancestry and race or ethnicity are different things. Genetic ancestry \
                describes how similar a person's genome is to those of reference populations; race \
                and ethnicity are social categories that people identify with. Do not infer one \
                from the other, do not use genetic ancestry as a label for a racial group, and \
                state clearly in your methods which one you used and why.",
                "While working with genomic data you may notice that a participant carries a \
                variant linked to a serious disease. Do not act on it, do not look for more \
                information about the person, and do not try to reach them or their doctor. \
                Decisions about returning results to participants belong to the program, which \
                handles them through its own processes with the participant's consent. If you \
                believe a finding matters, raise it with the program.",
            ],
        },
        CourseModule {
            key: "dissemination",
            title: "Additional care when sharing results",
            paragraphs: &[
                "The rule for small counts applies to Controlled Tier results exactly as it does \
                to the Registered Tier: a count of 1 to 20 participants, or anything from which it \
                can be derived, is never published or shared. With Controlled Tier data small \
                groups are easier to create and easier to miss, so check your results more \
                carefully.",
                "Genomic results need special attention. Never share individual genotypes or \
                sequences, or a list of which participants carry a variant. The number of carriers \
                of a rare variant is a count of participants: if 9 people carry it, report '20 or \
                fewer'. Allele or genotype counts and frequencies computed on small groups can \
                reveal a carrier count, and detailed summary statistics computed on few people can \
                reveal whether a particular person took part, so compute and share them only over \
                groups of more than 20 participants.",
                "Exact dates must not travel with results that describe individuals. Never publish \
                a participant's dates, and present timelines in aggregate, by week, month or year, \
                over groups of more than 20 participants. A description of a single case with its \
                real dates is enough to identify someone.",
                "Detailed demographic categories quickly produce small cells, especially when they \
                are crossed with each other or with age, place or condition. Combine categories \
                until every group has more than 20 participants, and check the totals and \
                neighboring cells as well. If you are unsure whether a Controlled Tier result is \
                safe to share, ask the program before it leaves the Researcher Workbench.",
            ],
        },
    ],
    bank: &[
        Question {
            id: "ct-tier-1",
            module: "tier",
            prompt: "What does the Controlled Tier add to the Registered Tier?",
            options: &[
                "Participants' names and contact details",
                "Genomic data, dates as they occurred, and more detailed demographic data",
                "Nothing: it is the same data on faster computers",
                "Direct access to participants' hospital record systems",
            ],
            correct: 1,
            explanation: "The Controlled Tier adds genomic data, unshifted dates and more \
                detailed demographics; direct identifiers are never included.",
        },
        Question {
            id: "ct-tier-2",
            module: "tier",
            prompt: "In the Registered Tier dates are shifted. What does the Controlled Tier give \
                you?",
            options: &[
                "Dates as they occurred, which place events on the real calendar",
                "No dates at all",
                "Dates rounded to the nearest decade",
                "Dates shifted by a larger amount",
            ],
            correct: 0,
            explanation: "Unshifted dates allow calendar-based research, and they are also more \
                identifying.",
        },
        Question {
            id: "ct-tier-3",
            module: "tier",
            prompt: "What do you need to reach the Controlled Tier?",
            options: &[
                "Only a request from a colleague who already has access",
                "A paid subscription",
                "Permission from one of the participants",
                "Registered Tier access, an institutional agreement that covers the Controlled \
                Tier, and completion of this course",
            ],
            correct: 3,
            explanation: "All three conditions must hold; Controlled Tier access builds on \
                Registered Tier access.",
        },
        Question {
            id: "ct-tier-4",
            module: "tier",
            prompt: "May you copy participant-level Controlled Tier results into a Registered \
                Tier workspace to work with a colleague who has only Registered Tier access?",
            options: &[
                "Yes, because both tiers are in the Researcher Workbench",
                "Yes, if you remove the genomic columns first",
                "No: Controlled Tier data stays in Controlled Tier workspaces, shared only with \
                people who have Controlled Tier access",
                "Yes, if the colleague has completed the Registered Tier course",
            ],
            correct: 2,
            explanation: "Moving Controlled Tier data into a Registered Tier workspace would give \
                it to people who are not approved for it.",
        },
        Question {
            id: "ct-risk-1",
            module: "risk",
            prompt: "Why is genomic data especially sensitive?",
            options: &[
                "It is usually inaccurate",
                "It is unique to a person, cannot be changed, and reveals information about their \
                relatives",
                "It describes only the sequencing machine",
                "It becomes anonymous after a year",
            ],
            correct: 1,
            explanation: "A genome cannot be changed or truly de-identified, and it is shared in \
                part with relatives who never consented.",
        },
        Question {
            id: "ct-risk-2",
            module: "risk",
            prompt: "How can a genome be re-identified without a name?",
            options: &[
                "By matching it against genealogy databases where relatives have shared their DNA",
                "It cannot: a genome never identifies anyone",
                "Only by taking a new blood sample from the person",
                "Only by the laboratory that sequenced it",
            ],
            correct: 0,
            explanation: "Matches with distant relatives, combined with family trees and public \
                records, have been used to name people.",
        },
        Question {
            id: "ct-risk-3",
            module: "risk",
            prompt: "Why do unshifted dates increase the risk of re-identification?",
            options: &[
                "They do not: dates say nothing about a person",
                "They reveal the participant's password",
                "They make the data files larger",
                "An exact date of an event, such as a hospital admission, can be matched with news \
                reports, social media or other records",
            ],
            correct: 3,
            explanation: "Exact dates connect a record to the outside world, where other \
                information about the event may be public.",
        },
        Question {
            id: "ct-risk-4",
            module: "risk",
            prompt: "May you upload participant genotypes to an outside imputation or genealogy \
                service?",
            options: &[
                "Yes, if the service is well known",
                "Yes, if you remove the participant identifiers first",
                "No: participant-level genomic data must never leave the Researcher Workbench",
                "Yes, for fewer than 20 participants",
            ],
            correct: 2,
            explanation: "A genome identifies a person even without identifiers, so it must stay \
                inside the Researcher Workbench.",
        },
        Question {
            id: "ct-uses-1",
            module: "uses",
            prompt: "Which of these is an acceptable use of Controlled Tier data?",
            options: &[
                "Working out whether two specific participants are related so you can tell them",
                "A genome-wide association study of a disease, with results reported in aggregate",
                "Identifying a participant in response to a request from the police",
                "Checking whether a job candidate carries a disease variant",
            ],
            correct: 1,
            explanation: "Research described in your purpose statement is acceptable; anything \
                aimed at particular individuals is not.",
        },
        Question {
            id: "ct-uses-2",
            module: "uses",
            prompt: "You notice that one participant carries a variant known to cause a serious \
                but treatable disease. What do you do?",
            options: &[
                "Do not act on it or try to contact anyone; if you think it matters, raise it with \
                the program, which handles any return of results",
                "Find the participant's contact details and tell them",
                "Ask the participant's doctor to test them",
                "Publish it as a case report",
            ],
            correct: 0,
            explanation: "Returning results is the program's decision, made through its own \
                processes with the participant's consent.",
        },
        Question {
            id: "ct-uses-3",
            module: "uses",
            prompt: "How should genetic ancestry and self-identified race or ethnicity be \
                treated?",
            options: &[
                "As the same measure, used interchangeably",
                "Race should be inferred from genotypes when it is missing",
                "Genetic ancestry proves biological differences between racial groups",
                "As different things: genetic ancestry describes genetic similarity to reference \
                populations, while race and ethnicity are social categories",
            ],
            correct: 3,
            explanation: "Conflating the two leads to wrong conclusions and can stigmatize \
                groups.",
        },
        Question {
            id: "ct-uses-4",
            module: "uses",
            prompt: "Which of these uses is not acceptable?",
            options: &[
                "Studying how a pharmacogenomic variant changes the effect of a medicine",
                "Adjusting for population structure with genetic principal components",
                "Using genomic data to argue that a population group is biologically inferior",
                "Studying seasonal patterns of emergency visits using exact dates",
            ],
            correct: 2,
            explanation: "Research that portrays a group as biologically inferior is stigmatizing \
                and is never an acceptable use.",
        },
        Question {
            id: "ct-dissemination-1",
            module: "dissemination",
            prompt: "A rare variant is carried by 9 participants in your cohort. May you publish \
                the number of carriers?",
            options: &[
                "Yes: variants are not participants",
                "No: it is a count of 1 to 20 participants, so report it as '20 or fewer' and \
                check that no other figure reveals it",
                "Yes, in the supplementary material",
                "Yes, if you also give the allele frequency",
            ],
            correct: 1,
            explanation: "Carriers are participants, so the rule for small counts applies.",
        },
        Question {
            id: "ct-dissemination-2",
            module: "dissemination",
            prompt: "How should you present a timeline of events that uses Controlled Tier dates?",
            options: &[
                "In aggregate, for example by month or year over groups of more than 20 \
                participants, never with an individual's exact dates",
                "With each participant's exact admission dates",
                "With exact dates only for unusual cases",
                "With exact dates if the participants are over 90",
            ],
            correct: 0,
            explanation: "Exact dates of a person's events can be matched with outside \
                information.",
        },
        Question {
            id: "ct-dissemination-3",
            module: "dissemination",
            prompt: "Your table crosses age group, gender identity and region using detailed \
                categories. What must you check?",
            options: &[
                "Only that the overall total is above 20",
                "Nothing: demographic data is not sensitive",
                "That the table fits on one page",
                "That no cell, and no difference between cells and totals, reveals a count of 1 to \
                20 participants, combining categories where needed",
            ],
            correct: 3,
            explanation: "Crossing detailed categories creates small cells that the rule for \
                small counts forbids sharing.",
        },
        Question {
            id: "ct-dissemination-4",
            module: "dissemination",
            prompt: "Which genomic result is safe to share outside the Researcher Workbench?",
            options: &[
                "Each participant's genotype at the top variants",
                "A list of the participants who carry a rare variant",
                "Association statistics computed over groups of more than 20 participants, with no \
                carrier count of 1 to 20",
                "Genotype counts for a subgroup of 6 participants",
            ],
            correct: 2,
            explanation: "Only aggregate results over groups of more than 20 participants may \
                leave the Researcher Workbench.",
        },
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// The right answer to every question in `ids`, in order.
    fn right_answers(course: &Course, ids: &[&str]) -> Vec<(String, usize)> {
        ids.iter()
            .map(|id| (id.to_string(), course.question(id).unwrap().correct))
            .collect()
    }

    /// A wrong answer to `id`.
    fn wrong_answer(course: &Course, id: &str) -> (String, usize) {
        let q = course.question(id).unwrap();
        (id.to_string(), (q.correct + 1) % q.options.len())
    }

    #[test]
    fn courses_are_found_by_key() {
        assert_eq!(
            course("rt").unwrap().title,
            "Responsible Conduct of Research"
        );
        assert_eq!(course("ct").unwrap().title, "Controlled Tier Training");
        assert!(course("RT").is_none());
        assert!(course("").is_none());
        assert_eq!(COURSES.len(), 2);
    }

    #[test]
    fn course_content_is_complete() {
        for c in COURSES {
            assert!(!c.title.is_empty() && c.summary.len() > 80, "{}", c.key);
            let mut keys = HashSet::new();
            for m in c.modules {
                assert!(keys.insert(m.key), "duplicate module {}", m.key);
                assert!(!m.title.is_empty());
                assert!(
                    (3..=6).contains(&m.paragraphs.len()),
                    "{}/{} has {} paragraphs",
                    c.key,
                    m.key,
                    m.paragraphs.len()
                );
                for p in m.paragraphs {
                    assert!(
                        p.len() >= 250,
                        "short paragraph in {}/{}: {p}",
                        c.key,
                        m.key
                    );
                }
                assert!(c.questions_for(m.key).count() >= 3, "{}/{}", c.key, m.key);
            }
        }
        assert_eq!(RESPONSIBLE_CONDUCT.modules.len(), 5);
        assert!(RESPONSIBLE_CONDUCT.bank.len() >= 20);
        assert!(CONTROLLED_TIER.bank.len() >= 12);
    }

    #[test]
    fn questions_are_well_formed() {
        let mut ids = HashSet::new();
        for c in COURSES {
            for q in c.bank {
                assert!(ids.insert(q.id), "duplicate id {}", q.id);
                assert!(
                    q.id.starts_with(&format!("{}-{}-", c.key, q.module)),
                    "{}",
                    q.id
                );
                assert!(c.module(q.module).is_some(), "{} names no module", q.id);
                assert_eq!(q.options.len(), 4, "{}", q.id);
                assert!(q.correct < q.options.len(), "{}", q.id);
                let distinct: HashSet<_> = q.options.iter().collect();
                assert_eq!(distinct.len(), 4, "{}", q.id);
                assert!(q.options.iter().all(|o| !o.trim().is_empty()));
                assert!(q.prompt.ends_with('?'), "{}", q.id);
                assert!(!q.explanation.is_empty(), "{}", q.id);
            }
            // The right answer is not always in the same place.
            let places: HashSet<_> = c.bank.iter().map(|q| q.correct).collect();
            assert_eq!(places.len(), 4, "{}", c.key);
        }
    }

    #[test]
    fn text_has_no_placeholders() {
        let mut texts: Vec<&str> = Vec::new();
        for c in COURSES {
            texts.extend([c.title, c.summary]);
            for m in c.modules {
                texts.push(m.title);
                texts.extend(m.paragraphs.iter().copied());
            }
            for q in c.bank {
                texts.extend([q.prompt, q.explanation]);
                texts.extend(q.options.iter().copied());
            }
        }
        for t in texts {
            let lower = t.to_lowercase();
            for bad in ["todo", "tbd", "lorem", "xxx", "placeholder", "  "] {
                assert!(!lower.contains(bad), "{bad:?} in {t}");
            }
            assert_eq!(t.trim(), t);
        }
    }

    #[test]
    fn rt_modules_cover_the_required_topics() {
        let text = |key: &str| {
            RESPONSIBLE_CONDUCT
                .module(key)
                .unwrap()
                .paragraphs
                .join(" ")
        };
        assert!(text("data").contains("research purpose statement"));
        assert!(text("privacy").contains("Re-identification"));
        assert!(text("dissemination").contains("1 to 20"));
        let security = text("security");
        assert!(
            security.contains("2-step verification") && security.contains("Report any incident")
        );
        let conduct = text("conduct");
        assert!(conduct.contains("Data User Code of Conduct") && conduct.contains("Stigmatizing"));
        let tier = CONTROLLED_TIER.module("tier").unwrap().paragraphs.join(" ");
        assert!(tier.contains("genomic") && tier.contains("dates") && tier.contains("demographic"));
    }

    #[test]
    fn default_policy_and_controlled_tier_policy() {
        let d = AssessmentPolicy::default();
        assert_eq!(
            (
                d.questions_per_attempt,
                d.pass_percent,
                d.retake_wait_hours,
                d.attempts_per_day
            ),
            (10, 80, 0, 3)
        );
        assert_eq!(AssessmentPolicy::for_course(&RESPONSIBLE_CONDUCT), d);
        let ct = AssessmentPolicy::for_course(&CONTROLLED_TIER);
        assert_eq!(ct.questions_per_attempt, 8);
        assert_eq!(
            (ct.pass_percent, ct.retake_wait_hours, ct.attempts_per_day),
            (80, 0, 3)
        );
        for c in COURSES {
            let n = AssessmentPolicy::for_course(c).questions_per_attempt;
            assert!(n >= c.modules.len() && n <= c.bank.len(), "{}", c.key);
        }
    }

    #[test]
    fn draw_is_deterministic_and_varies_with_the_seed() {
        let a = draw(&RESPONSIBLE_CONDUCT, 42, 10);
        assert_eq!(a, draw(&RESPONSIBLE_CONDUCT, 42, 10));
        assert_eq!(a.len(), 10);
        let others: HashSet<Vec<&str>> =
            (0..20).map(|s| draw(&RESPONSIBLE_CONDUCT, s, 10)).collect();
        assert!(others.len() > 15, "seeds give too few different attempts");
    }

    #[test]
    fn draw_clamps_to_the_bank_and_handles_small_n() {
        let all = draw(&CONTROLLED_TIER, 7, 1000);
        assert_eq!(all.len(), CONTROLLED_TIER.bank.len());
        assert!(draw(&CONTROLLED_TIER, 7, 0).is_empty());
        let two = draw(&RESPONSIBLE_CONDUCT, 7, 2);
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
    }

    #[test]
    fn draw_covers_every_module() {
        for seed in 0..200 {
            let ids = draw(
                &RESPONSIBLE_CONDUCT,
                seed,
                RESPONSIBLE_CONDUCT.modules.len(),
            );
            let modules: HashSet<&str> = ids
                .iter()
                .map(|id| RESPONSIBLE_CONDUCT.question(id).unwrap().module)
                .collect();
            assert_eq!(
                modules.len(),
                RESPONSIBLE_CONDUCT.modules.len(),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn grade_scores_and_rounds_down() {
        let policy = AssessmentPolicy::default();
        let asked = draw(&RESPONSIBLE_CONDUCT, 3, 10);
        let mut answers = right_answers(&RESPONSIBLE_CONDUCT, &asked);
        let g = grade(&RESPONSIBLE_CONDUCT, &asked, &answers, &policy).unwrap();
        assert_eq!(
            (g.correct, g.total, g.percent, g.passed),
            (10, 10, 100, true)
        );
        assert!(g.wrong.is_empty());

        // 8 of 10 is exactly the pass mark.
        answers[1] = wrong_answer(&RESPONSIBLE_CONDUCT, asked[1]);
        answers[6] = wrong_answer(&RESPONSIBLE_CONDUCT, asked[6]);
        let g = grade(&RESPONSIBLE_CONDUCT, &asked, &answers, &policy).unwrap();
        assert_eq!((g.correct, g.percent, g.passed), (8, 80, true));
        assert_eq!(g.wrong, vec![asked[1], asked[6]]);

        answers[0] = wrong_answer(&RESPONSIBLE_CONDUCT, asked[0]);
        let g = grade(&RESPONSIBLE_CONDUCT, &asked, &answers, &policy).unwrap();
        assert_eq!((g.correct, g.percent, g.passed), (7, 70, false));
        assert_eq!(g.wrong, vec![asked[0], asked[1], asked[6]]);

        // 2 of 3 is 66.7%, shown as 66.
        let asked3 = &asked[..3];
        let mut a3 = right_answers(&RESPONSIBLE_CONDUCT, asked3);
        a3[2] = wrong_answer(&RESPONSIBLE_CONDUCT, asked3[2]);
        let g = grade(&RESPONSIBLE_CONDUCT, asked3, &a3, &policy).unwrap();
        assert_eq!(g.percent, 66);
    }

    #[test]
    fn controlled_tier_needs_seven_of_eight() {
        let policy = AssessmentPolicy::for_course(&CONTROLLED_TIER);
        let asked = draw(&CONTROLLED_TIER, 11, policy.questions_per_attempt);
        let mut answers = right_answers(&CONTROLLED_TIER, &asked);
        answers[0] = wrong_answer(&CONTROLLED_TIER, asked[0]);
        let g = grade(&CONTROLLED_TIER, &asked, &answers, &policy).unwrap();
        assert_eq!((g.percent, g.passed), (87, true));
        answers[1] = wrong_answer(&CONTROLLED_TIER, asked[1]);
        let g = grade(&CONTROLLED_TIER, &asked, &answers, &policy).unwrap();
        assert_eq!((g.percent, g.passed), (75, false));
    }

    #[test]
    fn grade_accepts_answers_in_any_order() {
        let policy = AssessmentPolicy::default();
        let asked = draw(&RESPONSIBLE_CONDUCT, 5, 10);
        let mut answers = right_answers(&RESPONSIBLE_CONDUCT, &asked);
        answers.reverse();
        assert!(
            grade(&RESPONSIBLE_CONDUCT, &asked, &answers, &policy)
                .unwrap()
                .passed
        );
    }

    #[test]
    fn grade_refuses_malformed_submissions() {
        let policy = AssessmentPolicy::default();
        let c = &RESPONSIBLE_CONDUCT;
        let asked = draw(c, 9, 10);
        let good = right_answers(c, &asked);

        let mut missing = good.clone();
        let (gone, _) = missing.remove(4);
        assert_eq!(
            grade(c, &asked, &missing, &policy),
            Err(GradeError::Unanswered(vec![(5, gone.clone())]))
        );
        let (gone_too, _) = missing.remove(0);
        assert_eq!(
            grade(c, &asked, &missing, &policy),
            Err(GradeError::Unanswered(vec![(1, gone_too), (5, gone)]))
        );

        let mut twice = good.clone();
        twice.push(good[2].clone());
        assert_eq!(
            grade(c, &asked, &twice, &policy),
            Err(GradeError::Duplicate(asked[2].to_owned()))
        );

        let mut bad_option = good.clone();
        bad_option[3].1 = 4;
        assert_eq!(
            grade(c, &asked, &bad_option, &policy),
            Err(GradeError::NoSuchOption(asked[3].to_owned()))
        );

        let not_asked = c.bank.iter().find(|q| !asked.contains(&q.id)).unwrap().id;
        let mut extra = good.clone();
        extra.push((not_asked.to_owned(), 0));
        assert_eq!(
            grade(c, &asked, &extra, &policy),
            Err(GradeError::NotAsked(not_asked.to_owned()))
        );

        // A question from the other course is not in this bank.
        let foreign = CONTROLLED_TIER.bank[0].id;
        assert_eq!(
            grade(c, &[foreign], &[(foreign.to_owned(), 0)], &policy),
            Err(GradeError::UnknownQuestion(foreign.to_owned()))
        );

        let repeated = [asked[0], asked[0]];
        assert_eq!(
            grade(c, &repeated, &good[..1], &policy),
            Err(GradeError::Duplicate(asked[0].to_owned()))
        );
    }

    #[test]
    fn grade_errors_read_as_sentences() {
        let e = GradeError::NotAsked("rt-data-1".into()).to_string();
        assert!(
            e.starts_with("Question rt-data-1 was not part of this attempt"),
            "{e}"
        );
        let e = GradeError::Unanswered(vec![(5, "rt-data-5".into())]).to_string();
        assert_eq!(
            e,
            "Question 5 has no answer. Answer every question before submitting."
        );
        let e = GradeError::Unanswered(vec![
            (2, "rt-data-1".into()),
            (5, "rt-data-5".into()),
            (7, "rt-data-2".into()),
        ])
        .to_string();
        assert_eq!(
            e,
            "Questions 2, 5 and 7 have no answer. Answer every question before submitting."
        );
        assert!(!e.contains("rt-"), "{e}");
        let e = GradeError::NoSuchOption("rt-data-1".into()).to_string();
        assert!(e.contains("not one of its options"), "{e}");
    }

    #[test]
    fn an_empty_attempt_never_passes() {
        let lenient = AssessmentPolicy {
            pass_percent: 0,
            ..AssessmentPolicy::default()
        };
        let g = grade(&RESPONSIBLE_CONDUCT, &[], &[], &lenient).unwrap();
        assert_eq!((g.total, g.percent, g.passed), (0, 0, false));
    }

    #[test]
    fn retake_waits_after_a_failure() {
        let policy = AssessmentPolicy {
            retake_wait_hours: 24,
            ..AssessmentPolicy::default()
        };
        let failed = 1_700_000_000;
        let allowed = failed + 24 * 3600;
        assert_eq!(retake_wait(None, &policy, failed), None);
        assert_eq!(retake_wait(Some(failed), &policy, failed), Some(allowed));
        assert_eq!(
            retake_wait(Some(failed), &policy, allowed - 1),
            Some(allowed)
        );
        assert_eq!(retake_wait(Some(failed), &policy, allowed), None);
        assert_eq!(retake_wait(Some(failed), &policy, allowed + 1), None);

        let no_wait = AssessmentPolicy {
            retake_wait_hours: 0,
            ..AssessmentPolicy::default()
        };
        assert_eq!(retake_wait(Some(failed), &no_wait, failed), None);
        let huge = AssessmentPolicy {
            retake_wait_hours: i64::MAX,
            ..AssessmentPolicy::default()
        };
        assert_eq!(retake_wait(Some(failed), &huge, failed), Some(i64::MAX));
    }

    #[test]
    fn policy_statement_matches_the_policy() {
        assert_eq!(
            policy_statement(&RESPONSIBLE_CONDUCT, &AssessmentPolicy::default()),
            "The assessment asks 10 of the 25 questions in its question bank, drawn afresh for \
             each attempt. You pass with 80% or more. You can start at most 3 attempts in any 24 \
             hours, and after a failed attempt you can retake it immediately."
        );
        let p = AssessmentPolicy {
            questions_per_attempt: 1,
            pass_percent: 100,
            retake_wait_hours: 0,
            attempts_per_day: 0,
        };
        assert_eq!(
            policy_statement(&RESPONSIBLE_CONDUCT, &p),
            "The assessment asks 1 of the 25 questions in its question bank, drawn afresh for \
             each attempt. You pass only with every answer correct. There is no limit on \
             attempts, and after a failed attempt you can retake it immediately."
        );
        let p = AssessmentPolicy {
            retake_wait_hours: 1,
            attempts_per_day: 1,
            ..AssessmentPolicy::for_course(&CONTROLLED_TIER)
        };
        assert_eq!(
            policy_statement(&CONTROLLED_TIER, &p),
            "The assessment asks 8 of the 16 questions in its question bank, drawn afresh for \
             each attempt. You pass with 80% or more. You can start at most 1 attempt in any 24 \
             hours, and after a failed attempt you can retake it after 1 hour."
        );
        let p = AssessmentPolicy {
            questions_per_attempt: 100,
            retake_wait_hours: 24,
            ..AssessmentPolicy::default()
        };
        assert_eq!(
            policy_statement(&CONTROLLED_TIER, &p),
            "The assessment asks all 16 questions in its question bank, in a new order for each \
             attempt. You pass with 80% or more. You can start at most 3 attempts in any 24 \
             hours, and after a failed attempt you can retake it after 24 hours."
        );
    }

    #[test]
    fn at_most_the_daily_limit_of_attempts_in_any_24_hours() {
        let policy = AssessmentPolicy::default();
        let t0 = 1_700_000_000;
        let day = DAY_SECONDS;
        assert_eq!(may_start_attempt(&[], None, &policy, t0), Ok(()));
        assert_eq!(attempts_left(&[], &policy, t0), Some(3));
        let starts = [t0, t0 + 600, t0 + 1200];
        assert_eq!(
            may_start_attempt(&starts[..2], Some(t0 + 900), &policy, t0 + 1000),
            Ok(())
        );
        assert_eq!(attempts_left(&starts[..2], &policy, t0 + 1000), Some(1));
        // The fourth attempt within 24 hours waits until the first leaves the window.
        let refused = may_start_attempt(&starts, Some(t0 + 1500), &policy, t0 + 1600);
        assert_eq!(
            refused,
            Err(NotYet::DailyLimit {
                until: t0 + day,
                limit: 3
            })
        );
        assert_eq!(refused.unwrap_err().until(), t0 + day);
        assert_eq!(attempts_left(&starts, &policy, t0 + 1600), Some(0));
        assert!(may_start_attempt(&starts, None, &policy, t0 + day - 1).is_err());
        assert_eq!(may_start_attempt(&starts, None, &policy, t0 + day), Ok(()));
        assert_eq!(attempts_left(&starts, &policy, t0 + day), Some(1));
        // Order does not matter; with more starts than the limit (a limit lowered since), the
        // slot frees when enough have left.
        let many = [t0 + 1200, t0, t0 + 600, t0 + 1800];
        assert_eq!(
            may_start_attempt(&many, None, &policy, t0 + 2000),
            Err(NotYet::DailyLimit {
                until: t0 + 600 + day,
                limit: 3
            })
        );
        // No limit.
        let unlimited = AssessmentPolicy {
            attempts_per_day: 0,
            ..policy.clone()
        };
        assert_eq!(
            may_start_attempt(&many, None, &unlimited, t0 + 2000),
            Ok(())
        );
        assert_eq!(attempts_left(&many, &unlimited, t0 + 2000), None);
        // One a day.
        let one = AssessmentPolicy {
            attempts_per_day: 1,
            ..policy
        };
        assert_eq!(
            may_start_attempt(&[t0], None, &one, t0 + 5),
            Err(NotYet::DailyLimit {
                until: t0 + day,
                limit: 1
            })
        );
    }

    #[test]
    fn the_later_of_the_wait_and_the_daily_limit_is_reported() {
        let t0 = 1_700_000_000;
        let policy = AssessmentPolicy {
            retake_wait_hours: 2,
            attempts_per_day: 2,
            ..AssessmentPolicy::default()
        };
        // One attempt, failed: the wait alone.
        assert_eq!(
            may_start_attempt(&[t0], Some(t0 + 600), &policy, t0 + 700),
            Err(NotYet::RetakeWait {
                until: t0 + 600 + 7200
            })
        );
        // Two attempts: the daily limit ends later than the wait.
        let starts = [t0, t0 + 3 * 3600];
        let failed = t0 + 3 * 3600 + 600;
        assert_eq!(
            may_start_attempt(&starts, Some(failed), &policy, failed + 1),
            Err(NotYet::DailyLimit {
                until: t0 + DAY_SECONDS,
                limit: 2
            })
        );
        // The wait ends later than the limit.
        let starts = [t0, t0 + DAY_SECONDS - 600];
        let failed = t0 + DAY_SECONDS - 300;
        assert_eq!(
            may_start_attempt(&starts, Some(failed), &policy, failed + 1),
            Err(NotYet::RetakeWait {
                until: failed + 7200
            })
        );
        // The default policy: a failed attempt can be retaken at once.
        let d = AssessmentPolicy::default();
        assert_eq!(may_start_attempt(&[t0], Some(t0 + 60), &d, t0 + 61), Ok(()));
    }

    #[test]
    fn a_fresh_draw_avoids_the_previous_attempt() {
        for c in COURSES {
            let n = AssessmentPolicy::for_course(c).questions_per_attempt;
            for seed in 0..200u64 {
                let first = draw(c, seed, n);
                let second = draw_avoiding(c, seed.wrapping_mul(31) + 1, n, &first);
                assert_eq!(second.len(), n);
                let repeated = second.iter().filter(|id| first.contains(id)).count();
                // Only to give a module its question when the first attempt used them all.
                assert!(
                    repeated <= c.modules.len(),
                    "{} seed {seed}: {repeated}",
                    c.key
                );
                assert_ne!(first, second);
                let modules: HashSet<&str> = second
                    .iter()
                    .map(|id| c.question(id).unwrap().module)
                    .collect();
                assert_eq!(modules.len(), c.modules.len());
            }
            // The same seed without anything to avoid is the plain draw.
            assert_eq!(draw_avoiding(c, 5, n, &[]), draw(c, 5, n));
        }
        // RT: 25 questions, 10 per attempt: two attempts in a row share no question as long as
        // every module still has an unseen one.
        let first = draw(&RESPONSIBLE_CONDUCT, 1, 10);
        let second = draw_avoiding(&RESPONSIBLE_CONDUCT, 2, 10, &first);
        let shared = second.iter().filter(|id| first.contains(id)).count();
        let exhausted = RESPONSIBLE_CONDUCT
            .modules
            .iter()
            .filter(|m| {
                RESPONSIBLE_CONDUCT
                    .questions_for(m.key)
                    .all(|q| first.contains(&q.id))
            })
            .count();
        assert_eq!(shared, exhausted);
    }

    fn any_course() -> impl Strategy<Value = &'static Course> {
        prop_oneof![Just(&RESPONSIBLE_CONDUCT), Just(&CONTROLLED_TIER)]
    }

    proptest! {
        /// A draw gives distinct ids from the bank, as many as asked for (up to the bank's
        /// size), the same ones for the same seed, and every module when there is room.
        #[test]
        fn draw_properties(c in any_course(), seed in any::<u64>(), n in 0usize..40) {
            let ids = draw(c, seed, n);
            prop_assert_eq!(ids.len(), n.min(c.bank.len()));
            let distinct: HashSet<&str> = ids.iter().copied().collect();
            prop_assert_eq!(distinct.len(), ids.len());
            prop_assert!(ids.iter().all(|id| c.question(id).is_some()));
            prop_assert_eq!(&ids, &draw(c, seed, n));
            if n >= c.modules.len() {
                let modules: HashSet<&str> =
                    ids.iter().map(|id| c.question(id).unwrap().module).collect();
                prop_assert_eq!(modules.len(), c.modules.len());
            }
        }

        /// Answering every asked question correctly, in any order, scores 100% and passes.
        #[test]
        fn all_right_answers_pass(c in any_course(), seed in any::<u64>(), n in 1usize..40,
                                  rotate in 0usize..40) {
            let asked = draw(c, seed, n);
            let mut answers = right_answers(c, &asked);
            let k = rotate % answers.len();
            answers.rotate_left(k);
            let g = grade(c, &asked, &answers, &AssessmentPolicy::for_course(c)).unwrap();
            prop_assert_eq!(g.percent, 100);
            prop_assert!(g.passed);
            prop_assert_eq!(g.correct, asked.len());
            prop_assert!(g.wrong.is_empty());
        }

        /// Any answer to a question the attempt did not ask is refused.
        #[test]
        fn answers_to_unasked_questions_are_refused(
            c in any_course(), seed in any::<u64>(), n in 0usize..12, pick in any::<usize>(),
            made_up in "[a-z0-9-]{0,16}", use_bank in any::<bool>(), at in any::<usize>(),
            option in 0usize..6,
        ) {
            let asked = draw(c, seed, n);
            let unasked: Vec<&str> =
                c.bank.iter().map(|q| q.id).filter(|id| !asked.contains(id)).collect();
            let extra = if use_bank && !unasked.is_empty() {
                unasked[pick % unasked.len()].to_owned()
            } else {
                made_up
            };
            prop_assume!(!asked.contains(&extra.as_str()));
            let mut answers = right_answers(c, &asked);
            let at = at % (answers.len() + 1);
            answers.insert(at, (extra.clone(), option));
            prop_assert_eq!(
                grade(c, &asked, &answers, &AssessmentPolicy::default()),
                Err(GradeError::NotAsked(extra))
            );
        }

        /// The percentage is the share of right answers rounded down, and the pass follows it.
        #[test]
        fn percent_rounds_down(c in any_course(), seed in any::<u64>(), n in 1usize..40,
                               wrong_mask in any::<u64>(), pass in 0u32..=100) {
            let asked = draw(c, seed, n);
            let answers: Vec<(String, usize)> = asked
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    if wrong_mask >> (i % 64) & 1 == 1 {
                        wrong_answer(c, id)
                    } else {
                        (id.to_string(), c.question(id).unwrap().correct)
                    }
                })
                .collect();
            let policy = AssessmentPolicy { pass_percent: pass, ..AssessmentPolicy::default() };
            let g = grade(c, &asked, &answers, &policy).unwrap();
            prop_assert_eq!(g.correct + g.wrong.len(), asked.len());
            prop_assert_eq!(g.percent as usize, g.correct * 100 / asked.len());
            prop_assert_eq!(g.passed, g.percent >= pass);
        }
    }
}
