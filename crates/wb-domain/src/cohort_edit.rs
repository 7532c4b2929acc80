//! The cohort builder's edits: what one click or one changed field does to a definition.
//!
//! Every edit of the builder page is one [`Edit`], applied to the definition kept as the
//! researcher's draft. An edit never checks the definition as a whole (an age range 60 to 20
//! is kept as typed and shown at its criterion by [`crate::cohort::validate`]); it only refuses
//! what cannot be applied at all (a group or criterion that is not there).

use crate::cohort::{
    CohortDefinition, Criterion, CriterionKind, Group, Mention, Modifiers, Section, Temporal,
    TemporalKind, ValueFilter,
};

/// One edit of a definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// "Add Criteria": to a group (`group` `None`: a new group at the end of `section`),
    /// to its own criteria or, with `second`, to its temporal second list.
    AddCriterion {
        section: Section,
        group: Option<String>,
        second: bool,
        kind: CriterionKind,
    },
    /// Removes a criterion; a group left without criteria is removed with it.
    RemoveCriterion {
        id: String,
    },
    /// A criterion's new kind of the same menu entry (an age range changed, say).
    ReplaceKind {
        id: String,
        kind: CriterionKind,
    },
    /// "Apply optional Modifiers".
    SetModifiers {
        id: String,
        modifiers: Modifiers,
    },
    /// A measurement's value filter (`None`: any value).
    SetValue {
        id: String,
        value: Option<ValueFilter>,
    },
    /// Whether a domain criterion takes its concept's descendants.
    SetDescendants {
        id: String,
        on: bool,
    },
    /// The group's mention, temporal relation and "Suppress group from total count". A
    /// temporal group keeps its second list when only its kind or days change.
    SetGroup {
        id: String,
        mention: Mention,
        temporal: Option<TemporalKind>,
        suppressed: bool,
    },
    RemoveGroup {
        id: String,
    },
}

/// Why an edit could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("There is no group {0} in this cohort any more; the page was out of date.")]
    NoGroup(String),
    #[error("There is no criterion {0} in this cohort any more; the page was out of date.")]
    NoCriterion(String),
    #[error("Criteria for the second list go to a temporal group; choose its relation first.")]
    NotTemporal,
    #[error("Only an event criterion (surveys, physical measurements, domains) takes this.")]
    NotAnEvent,
    #[error("A criterion keeps its menu entry; remove it and add another instead.")]
    OtherKind,
}

/// What an edit did: the criterion or group it is about (to show the researcher where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub group: Option<String>,
    pub criterion: Option<String>,
}

fn groups_mut(def: &mut CohortDefinition) -> impl Iterator<Item = &mut Group> {
    def.include.iter_mut().chain(def.exclude.iter_mut())
}

fn groups(def: &CohortDefinition) -> impl Iterator<Item = &Group> {
    def.include.iter().chain(def.exclude.iter())
}

/// The next free `prefix{n}` id: one more than the largest in use.
fn next_id(used: impl Iterator<Item = String>, prefix: char) -> String {
    let n = used
        .filter_map(|id| id.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok()))
        .max()
        .unwrap_or(0);
    format!("{prefix}{}", n + 1)
}

fn criteria_ids(def: &CohortDefinition) -> Vec<String> {
    groups(def)
        .flat_map(|g| {
            g.criteria
                .iter()
                .chain(g.temporal.iter().flat_map(|t| t.second.iter()))
        })
        .map(|c| c.id.clone())
        .collect()
}

fn criterion_mut<'a>(def: &'a mut CohortDefinition, id: &str) -> Option<&'a mut Criterion> {
    groups_mut(def)
        .flat_map(|g| {
            let Group {
                criteria, temporal, ..
            } = g;
            criteria
                .iter_mut()
                .chain(temporal.iter_mut().flat_map(|t| t.second.iter_mut()))
        })
        .find(|c| c.id == id)
}

/// The id of the group holding a criterion.
pub fn group_of(def: &CohortDefinition, criterion: &str) -> Option<String> {
    groups(def)
        .find(|g| {
            g.criteria.iter().any(|c| c.id == criterion)
                || g.temporal
                    .as_ref()
                    .is_some_and(|t| t.second.iter().any(|c| c.id == criterion))
        })
        .map(|g| g.id.clone())
}

/// Applies an edit.
pub fn apply(def: &mut CohortDefinition, edit: Edit) -> Result<Applied, EditError> {
    match edit {
        Edit::AddCriterion {
            section,
            group,
            second,
            kind,
        } => {
            let id = next_id(criteria_ids(def).into_iter(), 'c');
            let criterion = Criterion {
                id: id.clone(),
                kind,
                modifiers: Modifiers::default(),
            };
            let group_id = match group {
                None => {
                    if second {
                        return Err(EditError::NotTemporal);
                    }
                    let gid = next_id(groups(def).map(|g| g.id.clone()), 'g');
                    let list = match section {
                        Section::Include => &mut def.include,
                        Section::Exclude => &mut def.exclude,
                    };
                    list.push(Group {
                        id: gid.clone(),
                        criteria: vec![criterion],
                        mention: Mention::AnyMention,
                        temporal: None,
                        suppressed: false,
                    });
                    gid
                }
                Some(gid) => {
                    let g = groups_mut(def)
                        .find(|g| g.id == gid)
                        .ok_or_else(|| EditError::NoGroup(gid.clone()))?;
                    if second {
                        g.temporal
                            .as_mut()
                            .ok_or(EditError::NotTemporal)?
                            .second
                            .push(criterion);
                    } else {
                        g.criteria.push(criterion);
                    }
                    gid
                }
            };
            Ok(Applied {
                group: Some(group_id),
                criterion: Some(id),
            })
        }
        Edit::RemoveCriterion { id } => {
            let gid = group_of(def, &id).ok_or_else(|| EditError::NoCriterion(id.clone()))?;
            let mut emptied = false;
            if let Some(g) = groups_mut(def).find(|g| g.id == gid) {
                g.criteria.retain(|c| c.id != id);
                if let Some(t) = g.temporal.as_mut() {
                    t.second.retain(|c| c.id != id);
                }
                emptied = g.criteria.is_empty();
            }
            if emptied {
                def.include.retain(|g| g.id != gid);
                def.exclude.retain(|g| g.id != gid);
                return Ok(Applied {
                    group: None,
                    criterion: None,
                });
            }
            Ok(Applied {
                group: Some(gid),
                criterion: None,
            })
        }
        Edit::ReplaceKind { id, kind } => {
            let gid = group_of(def, &id);
            let c = criterion_mut(def, &id).ok_or_else(|| EditError::NoCriterion(id.clone()))?;
            if std::mem::discriminant(&c.kind) != std::mem::discriminant(&kind) {
                return Err(EditError::OtherKind);
            }
            c.kind = kind;
            Ok(Applied {
                group: gid,
                criterion: Some(id),
            })
        }
        Edit::SetModifiers { id, modifiers } => {
            let gid = group_of(def, &id);
            let c = criterion_mut(def, &id).ok_or_else(|| EditError::NoCriterion(id.clone()))?;
            if !c.kind.is_event() && !modifiers.is_empty() {
                return Err(EditError::NotAnEvent);
            }
            c.modifiers = modifiers;
            Ok(Applied {
                group: gid,
                criterion: Some(id),
            })
        }
        Edit::SetValue { id, value } => {
            let gid = group_of(def, &id);
            let c = criterion_mut(def, &id).ok_or_else(|| EditError::NoCriterion(id.clone()))?;
            match &mut c.kind {
                CriterionKind::PhysicalMeasurement { value: v, .. }
                | CriterionKind::Domain { value: v, .. } => *v = value,
                _ => return Err(EditError::OtherKind),
            }
            Ok(Applied {
                group: gid,
                criterion: Some(id),
            })
        }
        Edit::SetDescendants { id, on } => {
            let gid = group_of(def, &id);
            let c = criterion_mut(def, &id).ok_or_else(|| EditError::NoCriterion(id.clone()))?;
            match &mut c.kind {
                CriterionKind::Domain {
                    include_descendants,
                    ..
                } => *include_descendants = on,
                _ => return Err(EditError::OtherKind),
            }
            Ok(Applied {
                group: gid,
                criterion: Some(id),
            })
        }
        Edit::SetGroup {
            id,
            mention,
            temporal,
            suppressed,
        } => {
            let g = groups_mut(def)
                .find(|g| g.id == id)
                .ok_or_else(|| EditError::NoGroup(id.clone()))?;
            g.mention = mention;
            g.suppressed = suppressed;
            g.temporal = match (temporal, g.temporal.take()) {
                (None, _) => None,
                (Some(kind), Some(t)) => Some(Temporal {
                    kind,
                    second: t.second,
                }),
                (Some(kind), None) => Some(Temporal {
                    kind,
                    second: Vec::new(),
                }),
            };
            Ok(Applied {
                group: Some(id),
                criterion: None,
            })
        }
        Edit::RemoveGroup { id } => {
            let before = def.include.len() + def.exclude.len();
            def.include.retain(|g| g.id != id);
            def.exclude.retain(|g| g.id != id);
            if def.include.len() + def.exclude.len() == before {
                return Err(EditError::NoGroup(id));
            }
            Ok(Applied {
                group: None,
                criterion: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cohort::{AgeBasis, Domain, validate};

    fn t2d() -> CriterionKind {
        CriterionKind::Domain {
            domain: Domain::Condition,
            concept_id: 201826,
            include_descendants: true,
            value: None,
        }
    }

    fn add(def: &mut CohortDefinition, section: Section, group: Option<&str>) -> Applied {
        apply(
            def,
            Edit::AddCriterion {
                section,
                group: group.map(Into::into),
                second: false,
                kind: t2d(),
            },
        )
        .unwrap()
    }

    #[test]
    fn adding_makes_groups_and_fresh_ids_and_removing_the_last_criterion_drops_the_group() {
        let mut def = CohortDefinition::default();
        let a = add(&mut def, Section::Include, None);
        assert_eq!(a.group.as_deref(), Some("g1"));
        assert_eq!(a.criterion.as_deref(), Some("c1"));
        let b = add(&mut def, Section::Include, Some("g1"));
        assert_eq!(b.criterion.as_deref(), Some("c2"));
        let c = add(&mut def, Section::Exclude, None);
        assert_eq!(c.group.as_deref(), Some("g2"));
        assert_eq!(c.criterion.as_deref(), Some("c3"));
        assert!(validate(&def).is_ok());
        apply(&mut def, Edit::RemoveCriterion { id: "c1".into() }).unwrap();
        assert_eq!(def.include[0].criteria.len(), 1);
        apply(&mut def, Edit::RemoveCriterion { id: "c3".into() }).unwrap();
        assert!(def.exclude.is_empty(), "the emptied group went with it");
        // Ids are never reused while a larger one is in use.
        let d = add(&mut def, Section::Include, Some("g1"));
        assert_eq!(d.criterion.as_deref(), Some("c3"));
        assert_eq!(
            apply(&mut def, Edit::RemoveCriterion { id: "c9".into() }),
            Err(EditError::NoCriterion("c9".into()))
        );
    }

    #[test]
    fn temporal_groups_keep_their_second_list_while_the_relation_changes() {
        let mut def = CohortDefinition::default();
        add(&mut def, Section::Include, None);
        let second = Edit::AddCriterion {
            section: Section::Include,
            group: Some("g1".into()),
            second: true,
            kind: t2d(),
        };
        assert_eq!(apply(&mut def, second.clone()), Err(EditError::NotTemporal));
        let set = |kind| Edit::SetGroup {
            id: "g1".into(),
            mention: Mention::FirstMention,
            temporal: kind,
            suppressed: true,
        };
        apply(&mut def, set(Some(TemporalKind::WithinXDays { days: 90 }))).unwrap();
        apply(&mut def, second).unwrap();
        apply(
            &mut def,
            set(Some(TemporalKind::XOrMoreDaysAfter { days: 30 })),
        )
        .unwrap();
        let g = &def.include[0];
        assert_eq!(g.mention, Mention::FirstMention);
        assert!(g.suppressed);
        let t = g.temporal.as_ref().unwrap();
        assert_eq!(t.kind, TemporalKind::XOrMoreDaysAfter { days: 30 });
        assert_eq!(t.second.len(), 1);
        apply(&mut def, set(None)).unwrap();
        assert!(def.include[0].temporal.is_none());
    }

    #[test]
    fn edits_keep_contradictions_as_typed_for_validation_to_name() {
        let mut def = CohortDefinition::default();
        apply(
            &mut def,
            Edit::AddCriterion {
                section: Section::Include,
                group: None,
                second: false,
                kind: CriterionKind::Age {
                    basis: AgeBasis::Current,
                    min: 18,
                    max: 65,
                },
            },
        )
        .unwrap();
        apply(
            &mut def,
            Edit::ReplaceKind {
                id: "c1".into(),
                kind: CriterionKind::Age {
                    basis: AgeBasis::AtCdr,
                    min: 60,
                    max: 20,
                },
            },
        )
        .unwrap();
        let errors = validate(&def).unwrap_err();
        assert_eq!(errors[0].location.criterion_id.as_deref(), Some("c1"));
        assert_eq!(
            apply(
                &mut def,
                Edit::ReplaceKind {
                    id: "c1".into(),
                    kind: t2d()
                }
            ),
            Err(EditError::OtherKind)
        );
        assert_eq!(
            apply(
                &mut def,
                Edit::SetModifiers {
                    id: "c1".into(),
                    modifiers: Modifiers {
                        occurrences_at_least: Some(2),
                        ..Modifiers::default()
                    }
                }
            ),
            Err(EditError::NotAnEvent)
        );
    }
}
