//! Workspaces: their names, the namespace each is given, the roles of collaborators and what
//! each role may do.

use serde::{Deserialize, Serialize};

use crate::institution::string_enum;

/// The most characters in a workspace name.
pub const NAME_MAX: usize = 80;

/// The most characters of the name-derived part of a namespace.
pub const NAMESPACE_SLUG_MAX: usize = 40;

/// The rules as they are stated on the workspace page.
pub const NAME_RULES: &str = "1 to 80 characters, with at least one letter or digit. Spaces at \
the start and end are removed.";

/// A valid workspace name: trimmed, 1 to [`NAME_MAX`] characters, no control characters, at
/// least one letter or digit. Names need not be unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceName(String);

/// Why a workspace name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceNameError {
    /// Nothing but white space.
    #[error("Name the workspace.")]
    Empty,
    /// More than [`NAME_MAX`] characters after trimming.
    #[error("A workspace name is at most {NAME_MAX} characters (this has {0}).")]
    TooLong(usize),
    /// A control character (a line break, a tab, …) or a text-direction control.
    #[error(
        "A workspace name may not contain line breaks, tabs, other control characters or \
         text-direction controls."
    )]
    ControlCharacter,
    /// Only punctuation, symbols or spaces.
    #[error("A workspace name needs at least one letter or digit.")]
    NoLetterOrDigit,
}

impl WorkspaceName {
    /// Parses what a user typed: white space at either end is removed; anything else outside
    /// the rules is refused, never silently changed.
    pub fn parse(input: &str) -> Result<Self, WorkspaceNameError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(WorkspaceNameError::Empty);
        }
        let n = s.chars().count();
        if n > NAME_MAX {
            return Err(WorkspaceNameError::TooLong(n));
        }
        if crate::text::check(s, crate::text::Kind::Line).is_err() {
            return Err(WorkspaceNameError::ControlCharacter);
        }
        if !s.chars().any(char::is_alphanumeric) {
            return Err(WorkspaceNameError::NoLetterOrDigit);
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkspaceName {
    type Error = WorkspaceNameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<WorkspaceName> for String {
    fn from(value: WorkspaceName) -> Self {
        value.0
    }
}

impl std::fmt::Display for WorkspaceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The namespace of a new workspace: `"wb-"`, a slug of `name`, `"-"` and `suffix`.
///
/// The slug keeps the ASCII letters (lower-cased) and digits of the name and puts a single `-`
/// between runs of them; it is cut to [`NAMESPACE_SLUG_MAX`] characters without ending on a
/// `-`. A name with no ASCII letter or digit gives the slug `workspace`. The caller supplies a
/// random `suffix` (lower-case letters and digits) that makes the namespace unique; it is used
/// as given.
pub fn namespace_for(name: &str, suffix: &str) -> String {
    let mut slug = String::new();
    let mut pending_dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    slug.truncate(NAMESPACE_SLUG_MAX);
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        slug.push_str("workspace");
    }
    format!("wb-{slug}-{suffix}")
}

string_enum! {
    /// A collaborator's role in a workspace, ordered by what it allows:
    /// `Reader < Writer < Owner`.
    WorkspaceRole {
        Reader => "reader", "Reader";
        Writer => "writer", "Writer";
        Owner => "owner", "Owner";
    }
}

string_enum! {
    /// Something a collaborator may do in a workspace.
    WorkspaceAction {
        View => "view", "View the workspace";
        Duplicate => "duplicate", "Duplicate the workspace";
        EditAnalysis => "edit_analysis", "Create, edit and delete cohorts, concept sets, datasets and reviews";
        EditPurpose => "edit_purpose", "Edit the research purpose";
        Share => "share", "Share the workspace and change collaborators' roles";
        ChangeBilling => "change_billing", "Change the billing account";
        Delete => "delete", "Delete the workspace";
    }
}

/// Whether `role` may perform `action`. Readers may view and duplicate; writers may also
/// create, edit and delete cohorts, concept sets, datasets and reviews; owners may do
/// everything.
pub fn allows(role: WorkspaceRole, action: WorkspaceAction) -> bool {
    use WorkspaceAction::*;
    match role {
        WorkspaceRole::Owner => true,
        WorkspaceRole::Writer => matches!(action, View | Duplicate | EditAnalysis),
        WorkspaceRole::Reader => matches!(action, View | Duplicate),
    }
}

/// Why a change of collaborators is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleChangeError {
    /// The person asking is not an owner of the workspace.
    #[error("Only an owner of the workspace can add, remove or change collaborators.")]
    NotOwner,
    /// The person to remove is not a collaborator.
    #[error("This person is not a collaborator on the workspace.")]
    NotAMember,
    /// The change would leave the workspace without an owner.
    #[error(
        "A workspace needs at least one owner. Make another collaborator an owner before \
         removing or demoting the last one."
    )]
    LastOwner,
    /// The only owner tried to change or give up their own role.
    #[error(
        "You are the only owner of this workspace. Make another collaborator an owner before \
         changing your own role or leaving."
    )]
    OwnRoleAsLastOwner,
}

/// Checks that `actor` may give `target` the role `new_role` (`None` removes `target` from the
/// workspace; a `target` who is not yet a collaborator is added).
///
/// `members` lists the current collaborators by user id; should an id appear twice, its first
/// entry counts. Only owners change roles, and the workspace always keeps an owner: the last
/// owner can be neither removed nor demoted, not even by themselves. Giving someone the role
/// they already have is allowed (and changes nothing).
pub fn check_role_change(
    members: &[(i64, WorkspaceRole)],
    actor: i64,
    target: i64,
    new_role: Option<WorkspaceRole>,
) -> Result<(), RoleChangeError> {
    let role_of = |id: i64| members.iter().find(|(m, _)| *m == id).map(|(_, r)| *r);
    if role_of(actor) != Some(WorkspaceRole::Owner) {
        return Err(RoleChangeError::NotOwner);
    }
    let current = role_of(target);
    if current.is_none() && new_role.is_none() {
        return Err(RoleChangeError::NotAMember);
    }
    if current == Some(WorkspaceRole::Owner) && new_role != Some(WorkspaceRole::Owner) {
        let mut owners: Vec<i64> = members
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| role_of(*id) == Some(WorkspaceRole::Owner))
            .collect();
        owners.sort_unstable();
        owners.dedup();
        if owners.len() <= 1 {
            return Err(if actor == target {
                RoleChangeError::OwnRoleAsLastOwner
            } else {
                RoleChangeError::LastOwner
            });
        }
    }
    Ok(())
}

/// One change of a collaborator's role that a "Save" of the share dialog makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberChange {
    pub user_id: i64,
    /// `None`: not a collaborator before (an addition).
    pub before: Option<WorkspaceRole>,
    /// `None`: removed.
    pub after: Option<WorkspaceRole>,
}

/// Plans a whole "Save" against the collaborators as they are now: the requested roles
/// (`None` removes), applied as one step. Requests that change nothing are dropped; requests
/// that make someone an owner are applied first, so "make Morgan an owner and make me a
/// writer" works in either order. If any request is refused, the whole Save is refused with
/// every reason, by user id.
pub fn plan_member_changes(
    members: &[(i64, WorkspaceRole)],
    actor: i64,
    requested: &[(i64, Option<WorkspaceRole>)],
) -> Result<Vec<MemberChange>, Vec<(i64, RoleChangeError)>> {
    let mut current: Vec<(i64, WorkspaceRole)> = members.to_vec();
    let mut ordered: Vec<(i64, Option<WorkspaceRole>)> = Vec::new();
    for (id, role) in requested {
        // The last request for a person wins.
        ordered.retain(|(i, _)| i != id);
        ordered.push((*id, *role));
    }
    ordered.sort_by_key(|(_, r)| *r != Some(WorkspaceRole::Owner));
    let mut changes = Vec::new();
    let mut refused = Vec::new();
    for (id, role) in ordered {
        let before = current.iter().find(|(m, _)| *m == id).map(|(_, r)| *r);
        if before == role {
            continue;
        }
        match check_role_change(&current, actor, id, role) {
            Err(e) => refused.push((id, e)),
            Ok(()) => {
                current.retain(|(m, _)| *m != id);
                if let Some(r) = role {
                    current.push((id, r));
                }
                changes.push(MemberChange {
                    user_id: id,
                    before,
                    after: role,
                });
            }
        }
    }
    if refused.is_empty() {
        Ok(changes)
    } else {
        Err(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WorkspaceRole::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(
            WorkspaceName::parse("  Diabetes cohort study ")
                .unwrap()
                .as_str(),
            "Diabetes cohort study"
        );
        assert_eq!(WorkspaceName::parse("x").unwrap().to_string(), "x");
        assert!(WorkspaceName::parse("Étude 2").is_ok());
        assert!(WorkspaceName::parse(&"n".repeat(NAME_MAX)).is_ok());
        assert_eq!(
            WorkspaceName::parse(&"é".repeat(NAME_MAX))
                .unwrap()
                .as_str(),
            "é".repeat(NAME_MAX)
        );
        assert_eq!(WorkspaceName::parse(" \t "), Err(WorkspaceNameError::Empty));
        assert_eq!(
            WorkspaceName::parse(&"n".repeat(NAME_MAX + 1)),
            Err(WorkspaceNameError::TooLong(81))
        );
        assert_eq!(
            WorkspaceName::parse("line\nbreak"),
            Err(WorkspaceNameError::ControlCharacter)
        );
        assert_eq!(
            WorkspaceName::parse("study\u{202E}gnp.exe"),
            Err(WorkspaceNameError::ControlCharacter)
        );
        assert_eq!(
            WorkspaceName::parse("a\u{7f}b"),
            Err(WorkspaceNameError::ControlCharacter)
        );
        assert_eq!(
            WorkspaceName::parse("-- !! --"),
            Err(WorkspaceNameError::NoLetterOrDigit)
        );
        assert!(
            WorkspaceNameError::TooLong(81)
                .to_string()
                .contains("at most 80")
        );
    }

    #[test]
    fn names_convert_only_when_valid() {
        let n = WorkspaceName::try_from(String::from("  My study ")).unwrap();
        assert_eq!(n.as_str(), "My study");
        assert!(WorkspaceName::try_from(String::from("   ")).is_err());
        assert_eq!(String::from(n), "My study");
    }

    #[test]
    fn namespaces_are_slugs_with_the_suffix() {
        assert_eq!(
            namespace_for("Diabetes Cohort Study", "k3x9"),
            "wb-diabetes-cohort-study-k3x9"
        );
        assert_eq!(
            namespace_for("  --Ada's  (2nd) study!! ", "ab12"),
            "wb-ada-s-2nd-study-ab12"
        );
        assert_eq!(namespace_for("研究", "zz99"), "wb-workspace-zz99");
        assert_eq!(namespace_for("Café au lait", "q1"), "wb-caf-au-lait-q1");
        assert_eq!(
            namespace_for(&"abcde ".repeat(20), "s"),
            format!("wb-{}abcd-s", "abcde-".repeat(6))
        );
        // Cut at 40 characters, the slug would end on a dash, which is dropped.
        let cut = namespace_for(&"abcd ".repeat(20), "s");
        assert_eq!(cut, format!("wb-{}abcd-s", "abcd-".repeat(7)));
        assert_eq!(cut.len(), "wb-".len() + NAMESPACE_SLUG_MAX - 1 + "-s".len());
    }

    #[test]
    fn the_role_matrix() {
        use WorkspaceAction::*;
        let allowed = |r| {
            WorkspaceAction::ALL
                .iter()
                .copied()
                .filter(|a| allows(r, *a))
                .collect::<Vec<_>>()
        };
        assert_eq!(allowed(Reader), vec![View, Duplicate]);
        assert_eq!(allowed(Writer), vec![View, Duplicate, EditAnalysis]);
        assert_eq!(allowed(Owner), WorkspaceAction::ALL.to_vec());
        assert!(Reader < Writer && Writer < Owner);
        assert_eq!(WorkspaceRole::from_code("writer"), Some(Writer));
    }

    #[test]
    fn only_owners_change_roles() {
        let members = [(1, Owner), (2, Writer), (3, Reader)];
        assert_eq!(
            check_role_change(&members, 2, 3, Some(Writer)),
            Err(RoleChangeError::NotOwner)
        );
        assert_eq!(
            check_role_change(&members, 3, 3, None),
            Err(RoleChangeError::NotOwner)
        );
        assert_eq!(
            check_role_change(&members, 99, 3, None),
            Err(RoleChangeError::NotOwner)
        );
        assert_eq!(check_role_change(&members, 1, 3, Some(Writer)), Ok(()));
        assert_eq!(check_role_change(&members, 1, 2, None), Ok(()));
        assert_eq!(check_role_change(&members, 1, 4, Some(Reader)), Ok(()));
        assert_eq!(
            check_role_change(&members, 1, 4, None),
            Err(RoleChangeError::NotAMember)
        );
        assert!(
            RoleChangeError::NotOwner
                .to_string()
                .contains("Only an owner")
        );
    }

    #[test]
    fn the_last_owner_stays() {
        let members = [(1, Owner), (2, Writer)];
        for new_role in [None, Some(Writer), Some(Reader)] {
            assert_eq!(
                check_role_change(&members, 1, 1, new_role),
                Err(RoleChangeError::OwnRoleAsLastOwner)
            );
        }
        assert_eq!(check_role_change(&members, 1, 1, Some(Owner)), Ok(()));
        // With a second owner, either may step down or remove the other.
        let members = [(1, Owner), (2, Owner)];
        assert_eq!(check_role_change(&members, 1, 1, Some(Reader)), Ok(()));
        assert_eq!(check_role_change(&members, 1, 2, None), Ok(()));
        // A duplicated entry does not make a second owner.
        let members = [(1, Owner), (1, Owner), (2, Reader)];
        assert_eq!(
            check_role_change(&members, 1, 1, None),
            Err(RoleChangeError::OwnRoleAsLastOwner)
        );
    }

    fn role() -> impl Strategy<Value = WorkspaceRole> {
        proptest::sample::select(WorkspaceRole::ALL)
    }

    fn action() -> impl Strategy<Value = WorkspaceAction> {
        proptest::sample::select(WorkspaceAction::ALL)
    }

    #[test]
    fn a_save_is_planned_as_one_step() {
        let members = [(1, Owner), (2, Reader)];
        // No-ops are dropped: nothing to do is an empty plan, not a change.
        assert_eq!(
            plan_member_changes(&members, 1, &[(2, Some(Reader))]),
            Ok(vec![])
        );
        // Promoting someone to owner first lets the last owner step down in the same Save,
        // whichever order the form lists them in.
        let plan =
            plan_member_changes(&members, 1, &[(1, Some(Writer)), (2, Some(Owner))]).unwrap();
        assert_eq!(
            plan,
            vec![
                MemberChange {
                    user_id: 2,
                    before: Some(Reader),
                    after: Some(Owner)
                },
                MemberChange {
                    user_id: 1,
                    before: Some(Owner),
                    after: Some(Writer)
                },
            ]
        );
        // Adding and removing.
        let plan = plan_member_changes(&members, 1, &[(3, Some(Reader)), (2, None)]).unwrap();
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].before, None);
        assert_eq!(plan[1].after, None);
        // One refusal refuses the Save, with its reason.
        assert_eq!(
            plan_member_changes(&members, 1, &[(3, Some(Reader)), (1, Some(Reader))]),
            Err(vec![(1, RoleChangeError::OwnRoleAsLastOwner)])
        );
        assert_eq!(
            plan_member_changes(&members, 2, &[(3, Some(Reader))]),
            Err(vec![(3, RoleChangeError::NotOwner)])
        );
    }

    proptest! {
        /// However a Save is composed, applying its plan keeps an owner.
        #[test]
        fn a_planned_save_keeps_an_owner(
            roles in proptest::collection::vec(role(), 1..6),
            actor in 0i64..7,
            requests in proptest::collection::vec((0i64..8, proptest::option::of(role())), 0..6),
        ) {
            let mut members: Vec<(i64, WorkspaceRole)> =
                roles.iter().enumerate().map(|(i, r)| (i as i64, *r)).collect();
            let had_owner = members.iter().any(|(_, r)| *r == Owner);
            if let Ok(plan) = plan_member_changes(&members, actor, &requests) {
                for c in plan {
                    prop_assert_ne!(c.before, c.after);
                    members.retain(|(m, _)| *m != c.user_id);
                    if let Some(r) = c.after {
                        members.push((c.user_id, r));
                    }
                }
                prop_assert!(!had_owner || members.iter().any(|(_, r)| *r == Owner));
            }
        }

        /// A higher role allows everything a lower one does.
        #[test]
        fn roles_are_monotone(a in role(), b in role(), act in action()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(!allows(lo, act) || allows(hi, act));
        }

        /// Every permitted change comes from an owner and leaves at least one owner.
        #[test]
        fn a_permitted_change_keeps_an_owner(
            roles in proptest::collection::vec(role(), 1..6),
            actor in 0i64..7,
            target in 0i64..7,
            new_role in proptest::option::of(role()),
        ) {
            let members: Vec<(i64, WorkspaceRole)> =
                roles.iter().enumerate().map(|(i, r)| (i as i64, *r)).collect();
            let had_owner = members.iter().any(|(_, r)| *r == Owner);
            if check_role_change(&members, actor, target, new_role).is_ok() {
                prop_assert!(members.contains(&(actor, Owner)));
                let mut after: Vec<(i64, WorkspaceRole)> =
                    members.iter().copied().filter(|(id, _)| *id != target).collect();
                if let Some(r) = new_role {
                    after.push((target, r));
                }
                prop_assert!(!had_owner || after.iter().any(|(_, r)| *r == Owner));
            }
        }
    }
}
