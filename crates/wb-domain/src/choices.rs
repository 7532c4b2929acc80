//! The fixed choices of the sign-up form: roles, degrees, how people heard of us, and the
//! optional demographic questions. Every demographic question has "Prefer not to answer".

use crate::institution::{OrganizationType, string_enum};

string_enum! {
    /// "Which of the following best describes your role?" (publicly displayed).
    Role {
        Undergraduate => "undergraduate", "Undergraduate (Bachelor level) student";
        GraduateTrainee => "graduate_trainee", "Graduate trainee (Current student in a Masters, PhD, or Medical school training program)";
        ResearchFellow => "research_fellow", "Research fellow (a post-doctoral fellow or medical resident in training)";
        EarlyCareer => "early_career", "Early career tenure-track researcher";
        MidCareer => "mid_career", "Mid-career tenured researcher";
        LateCareer => "late_career", "Late career tenured researcher";
        ProjectPersonnel => "project_personnel", "Project personnel (e.g. research assistant, data analyst, project manager, research coordinator)";
        ResearchAssistant => "research_assistant", "Research assistant (pre-doctoral)";
        ResearchAssociate => "research_associate", "Research associate (post-doctoral)";
        Scientist => "scientist", "Early or mid-career scientist";
        SeniorScientist => "senior_scientist", "Senior scientist";
        Teacher => "teacher", "Teacher, instructor or professor";
        Student => "student", "Student";
        Administrator => "administrator", "Administrator";
        Other => "other", "Other (describe)";
    }
}

impl Role {
    /// The roles offered for an institution of this type, in the order they are shown.
    pub fn for_organization(org: OrganizationType) -> &'static [Role] {
        use Role::*;
        match org {
            OrganizationType::AcademicResearch => &[
                Undergraduate,
                GraduateTrainee,
                ResearchFellow,
                EarlyCareer,
                MidCareer,
                LateCareer,
                ProjectPersonnel,
                Other,
            ],
            OrganizationType::Educational => &[Teacher, Student, Administrator, Other],
            OrganizationType::Industry | OrganizationType::HealthCenter => &[
                ResearchAssistant,
                ResearchAssociate,
                Scientist,
                SeniorScientist,
                ProjectPersonnel,
                Other,
            ],
            OrganizationType::Other => Role::ALL,
        }
    }
}

string_enum! {
    Degree {
        Phd => "phd", "PhD";
        Md => "md", "MD";
        Jd => "jd", "JD";
        Edd => "edd", "EdD";
        Msn => "msn", "MSN";
        Ms => "ms", "MS";
        Ma => "ma", "MA";
        Mba => "mba", "MBA";
        Me => "me", "ME";
        Msw => "msw", "MSW";
        Mph => "mph", "MPH";
        Ba => "ba", "BA";
        Bs => "bs", "BS";
        Bsn => "bsn", "BSN";
        NoDegree => "none", "None";
    }
}

string_enum! {
    /// "How did you hear about the Researcher Workbench?"
    DiscoverySource {
        Website => "website", "The research program's website";
        SocialMedia => "social_media", "Social media";
        Journal => "journal", "Journal or news article";
        Event => "event", "Activity, presentation or event";
        Colleagues => "colleagues", "Friends or colleagues";
        Training => "training", "A course or training at my institution";
        OtherWebsite => "other_website", "Another website";
        Other => "other", "Other (describe)";
    }
}

string_enum! {
    RaceEthnicity {
        AmericanIndian => "ai_an", "American Indian or Alaska Native";
        Asian => "asian", "Asian";
        Black => "black", "Black or African American";
        Hispanic => "hispanic", "Hispanic or Latino or Spanish Origin";
        MiddleEastern => "mena", "Middle Eastern or North African";
        PacificIslander => "nhpi", "Native Hawaiian or other Pacific Islander";
        White => "white", "White";
        Other => "other", "Other";
        PreferNot => "prefer_not", "Prefer not to answer";
    }
}

string_enum! {
    GenderIdentity {
        Man => "man", "Man";
        Woman => "woman", "Woman";
        NonBinary => "non_binary", "Non-binary";
        TransMan => "trans_man", "Transgender man";
        TransWoman => "trans_woman", "Transgender woman";
        Genderqueer => "genderqueer", "Genderqueer";
        TwoSpirit => "two_spirit", "Two Spirit";
        Questioning => "questioning", "Questioning or unsure";
        Other => "other", "Other";
        PreferNot => "prefer_not", "Prefer not to answer";
    }
}

string_enum! {
    SexualOrientation {
        Asexual => "asexual", "Asexual";
        Bisexual => "bisexual", "Bisexual";
        Gay => "gay", "Gay";
        Lesbian => "lesbian", "Lesbian";
        Queer => "queer", "Queer";
        Straight => "straight", "Straight";
        Questioning => "questioning", "Questioning or unsure";
        Other => "other", "Other";
        PreferNot => "prefer_not", "Prefer not to answer";
    }
}

string_enum! {
    SexAtBirth {
        Female => "female", "Female";
        Male => "male", "Male";
        Intersex => "intersex", "Intersex";
        Other => "other", "Other";
        PreferNot => "prefer_not", "Prefer not to answer";
    }
}

string_enum! {
    Education {
        NoEducation => "none", "Never attended school";
        Grades1To12 => "grades_1_12", "Grades 1 through 12";
        Undergraduate => "undergraduate", "Some college or undergraduate study";
        CollegeGraduate => "college_graduate", "College graduate";
        Master => "master", "Master's degree";
        Doctorate => "doctorate", "Doctorate";
        PreferNot => "prefer_not", "Prefer not to answer";
    }
}

string_enum! {
    YesNoPreferNot {
        Yes => "yes", "Yes";
        No => "no", "No";
        PreferNot => "prefer_not", "Prefer not to answer";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in Role::ALL {
            assert_eq!(Role::from_code(r.code()), Some(*r));
            assert!(seen.insert(r.code()));
        }
    }

    #[test]
    fn every_organization_type_offers_the_seed_roles_or_a_fit() {
        let academic = Role::for_organization(OrganizationType::AcademicResearch);
        for r in [
            Role::Undergraduate,
            Role::GraduateTrainee,
            Role::ResearchFellow,
            Role::EarlyCareer,
            Role::MidCareer,
        ] {
            assert!(academic.contains(&r));
        }
        for org in OrganizationType::ALL {
            assert!(Role::for_organization(*org).contains(&Role::Other));
        }
    }
}
