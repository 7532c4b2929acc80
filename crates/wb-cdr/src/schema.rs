//! The OMOP CDM v5.4 tables a CDR holds, as Workbench reads and writes them: their columns,
//! types and which columns hold concept ids, person ids and dates. The generator writes exactly
//! these columns; the importer checks real exports against them (extra columns are allowed and
//! dropped, missing required ones are errors).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// A column's logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 64-bit integer (ids, concept ids, counts).
    Int,
    /// A floating-point number.
    Float,
    /// Text.
    Text,
    /// A calendar date (Arrow `Date32`, days since 1970-01-01).
    Date,
}

impl Kind {
    pub fn arrow(self) -> DataType {
        match self {
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Text => DataType::Utf8,
            Kind::Date => DataType::Date32,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Int => "integer",
            Kind::Float => "number",
            Kind::Text => "text",
            Kind::Date => "date",
        }
    }
}

/// What a column refers to, for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Plain,
    /// A concept id that must exist in `concept` (0 means "no matching concept").
    Concept,
    /// A person id that must exist in `person`.
    Person,
    /// An event date that must lie in the CDR's date range.
    EventDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub role: Role,
}

const fn col(name: &'static str, kind: Kind, nullable: bool, role: Role) -> Column {
    Column {
        name,
        kind,
        nullable,
        role,
    }
}

const fn id(name: &'static str) -> Column {
    col(name, Kind::Int, false, Role::Plain)
}
const fn opt_id(name: &'static str) -> Column {
    col(name, Kind::Int, true, Role::Plain)
}
const fn person() -> Column {
    col("person_id", Kind::Int, false, Role::Person)
}
const fn concept(name: &'static str) -> Column {
    col(name, Kind::Int, false, Role::Concept)
}
const fn opt_concept(name: &'static str) -> Column {
    col(name, Kind::Int, true, Role::Concept)
}
const fn date(name: &'static str) -> Column {
    col(name, Kind::Date, false, Role::EventDate)
}
const fn opt_date(name: &'static str) -> Column {
    col(name, Kind::Date, true, Role::EventDate)
}
const fn text(name: &'static str) -> Column {
    col(name, Kind::Text, false, Role::Plain)
}
const fn opt_text(name: &'static str) -> Column {
    col(name, Kind::Text, true, Role::Plain)
}
const fn opt_float(name: &'static str) -> Column {
    col(name, Kind::Float, true, Role::Plain)
}
const fn vocab_date(name: &'static str) -> Column {
    col(name, Kind::Date, false, Role::Plain)
}

/// Whether a table belongs to the vocabulary or to the clinical data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Vocabulary,
    Clinical,
}

/// One table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub part: Part,
    pub columns: &'static [Column],
    /// Whether a CDR must have it (`concept_synonym` and `device_exposure`, for example, may be
    /// absent from an export).
    pub required: bool,
    /// The column with the clinical concept an event is about, for the index.
    pub event_concept: Option<&'static str>,
    /// The event's (start) date column.
    pub event_date: Option<&'static str>,
    /// A second concept column the index also covers: the answer of a survey question
    /// (`observation.value_as_concept_id`), so "question Q = answer A" is one bitmap.
    pub value_concept: Option<&'static str>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(c.name, c.kind.arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }
}

pub const CONCEPT: Table = Table {
    name: "concept",
    part: Part::Vocabulary,
    columns: &[
        id("concept_id"),
        text("concept_name"),
        text("domain_id"),
        text("vocabulary_id"),
        text("concept_class_id"),
        opt_text("standard_concept"),
        text("concept_code"),
        vocab_date("valid_start_date"),
        vocab_date("valid_end_date"),
        opt_text("invalid_reason"),
    ],
    required: true,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

pub const CONCEPT_ANCESTOR: Table = Table {
    name: "concept_ancestor",
    part: Part::Vocabulary,
    columns: &[
        concept("ancestor_concept_id"),
        concept("descendant_concept_id"),
        id("min_levels_of_separation"),
        id("max_levels_of_separation"),
    ],
    required: true,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

pub const CONCEPT_RELATIONSHIP: Table = Table {
    name: "concept_relationship",
    part: Part::Vocabulary,
    columns: &[
        concept("concept_id_1"),
        concept("concept_id_2"),
        text("relationship_id"),
        vocab_date("valid_start_date"),
        vocab_date("valid_end_date"),
        opt_text("invalid_reason"),
    ],
    required: true,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

pub const CONCEPT_SYNONYM: Table = Table {
    name: "concept_synonym",
    part: Part::Vocabulary,
    columns: &[
        concept("concept_id"),
        text("concept_synonym_name"),
        concept("language_concept_id"),
    ],
    required: false,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

pub const VOCABULARY: Table = Table {
    name: "vocabulary",
    part: Part::Vocabulary,
    columns: &[
        text("vocabulary_id"),
        text("vocabulary_name"),
        opt_text("vocabulary_reference"),
        opt_text("vocabulary_version"),
        id("vocabulary_concept_id"),
    ],
    required: true,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

pub const DOMAIN: Table = Table {
    name: "domain",
    part: Part::Vocabulary,
    columns: &[
        text("domain_id"),
        text("domain_name"),
        id("domain_concept_id"),
    ],
    required: true,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

pub const CONCEPT_CLASS: Table = Table {
    name: "concept_class",
    part: Part::Vocabulary,
    columns: &[
        text("concept_class_id"),
        text("concept_class_name"),
        id("concept_class_concept_id"),
    ],
    required: true,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

pub const PERSON: Table = Table {
    name: "person",
    part: Part::Clinical,
    columns: &[
        id("person_id"),
        concept("gender_concept_id"),
        id("year_of_birth"),
        opt_id("month_of_birth"),
        opt_id("day_of_birth"),
        concept("race_concept_id"),
        concept("ethnicity_concept_id"),
        opt_id("location_id"),
        opt_text("person_source_value"),
    ],
    required: true,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

pub const OBSERVATION_PERIOD: Table = Table {
    name: "observation_period",
    part: Part::Clinical,
    columns: &[
        id("observation_period_id"),
        person(),
        date("observation_period_start_date"),
        date("observation_period_end_date"),
        concept("period_type_concept_id"),
    ],
    required: true,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

pub const VISIT_OCCURRENCE: Table = Table {
    name: "visit_occurrence",
    part: Part::Clinical,
    columns: &[
        id("visit_occurrence_id"),
        person(),
        concept("visit_concept_id"),
        date("visit_start_date"),
        date("visit_end_date"),
        concept("visit_type_concept_id"),
    ],
    required: true,
    event_concept: Some("visit_concept_id"),
    event_date: Some("visit_start_date"),
    value_concept: None,
};

pub const CONDITION_OCCURRENCE: Table = Table {
    name: "condition_occurrence",
    part: Part::Clinical,
    columns: &[
        id("condition_occurrence_id"),
        person(),
        concept("condition_concept_id"),
        date("condition_start_date"),
        opt_date("condition_end_date"),
        concept("condition_type_concept_id"),
        opt_id("visit_occurrence_id"),
        opt_text("condition_source_value"),
    ],
    required: true,
    event_concept: Some("condition_concept_id"),
    event_date: Some("condition_start_date"),
    value_concept: None,
};

pub const DRUG_EXPOSURE: Table = Table {
    name: "drug_exposure",
    part: Part::Clinical,
    columns: &[
        id("drug_exposure_id"),
        person(),
        concept("drug_concept_id"),
        date("drug_exposure_start_date"),
        date("drug_exposure_end_date"),
        concept("drug_type_concept_id"),
        opt_float("quantity"),
        opt_id("days_supply"),
        opt_id("visit_occurrence_id"),
    ],
    required: true,
    event_concept: Some("drug_concept_id"),
    event_date: Some("drug_exposure_start_date"),
    value_concept: None,
};

pub const PROCEDURE_OCCURRENCE: Table = Table {
    name: "procedure_occurrence",
    part: Part::Clinical,
    columns: &[
        id("procedure_occurrence_id"),
        person(),
        concept("procedure_concept_id"),
        date("procedure_date"),
        concept("procedure_type_concept_id"),
        opt_id("visit_occurrence_id"),
    ],
    required: true,
    event_concept: Some("procedure_concept_id"),
    event_date: Some("procedure_date"),
    value_concept: None,
};

pub const MEASUREMENT: Table = Table {
    name: "measurement",
    part: Part::Clinical,
    columns: &[
        id("measurement_id"),
        person(),
        concept("measurement_concept_id"),
        date("measurement_date"),
        concept("measurement_type_concept_id"),
        opt_float("value_as_number"),
        opt_concept("value_as_concept_id"),
        opt_concept("unit_concept_id"),
        opt_float("range_low"),
        opt_float("range_high"),
        opt_id("visit_occurrence_id"),
    ],
    required: true,
    event_concept: Some("measurement_concept_id"),
    event_date: Some("measurement_date"),
    value_concept: None,
};

pub const OBSERVATION: Table = Table {
    name: "observation",
    part: Part::Clinical,
    columns: &[
        id("observation_id"),
        person(),
        concept("observation_concept_id"),
        date("observation_date"),
        concept("observation_type_concept_id"),
        opt_float("value_as_number"),
        opt_text("value_as_string"),
        opt_concept("value_as_concept_id"),
        opt_id("visit_occurrence_id"),
        opt_text("observation_source_value"),
    ],
    required: true,
    event_concept: Some("observation_concept_id"),
    event_date: Some("observation_date"),
    value_concept: Some("value_as_concept_id"),
};

pub const DEVICE_EXPOSURE: Table = Table {
    name: "device_exposure",
    part: Part::Clinical,
    columns: &[
        id("device_exposure_id"),
        person(),
        concept("device_concept_id"),
        date("device_exposure_start_date"),
        opt_date("device_exposure_end_date"),
        concept("device_type_concept_id"),
        opt_id("visit_occurrence_id"),
    ],
    required: false,
    event_concept: Some("device_concept_id"),
    event_date: Some("device_exposure_start_date"),
    value_concept: None,
};

pub const DEATH: Table = Table {
    name: "death",
    part: Part::Clinical,
    columns: &[
        person(),
        date("death_date"),
        concept("death_type_concept_id"),
        opt_concept("cause_concept_id"),
    ],
    required: false,
    event_concept: None,
    event_date: None,
    value_concept: None,
};

/// Every table, vocabulary first (the order the importer checks them in).
pub const TABLES: &[Table] = &[
    CONCEPT,
    CONCEPT_ANCESTOR,
    CONCEPT_RELATIONSHIP,
    CONCEPT_SYNONYM,
    VOCABULARY,
    DOMAIN,
    CONCEPT_CLASS,
    PERSON,
    OBSERVATION_PERIOD,
    VISIT_OCCURRENCE,
    CONDITION_OCCURRENCE,
    DRUG_EXPOSURE,
    PROCEDURE_OCCURRENCE,
    MEASUREMENT,
    OBSERVATION,
    DEVICE_EXPOSURE,
    DEATH,
];

/// The clinical event tables the index covers (a person "has" a concept when one of these
/// tables has a row with it).
pub const EVENT_TABLES: &[Table] = &[
    VISIT_OCCURRENCE,
    CONDITION_OCCURRENCE,
    DRUG_EXPOSURE,
    PROCEDURE_OCCURRENCE,
    MEASUREMENT,
    OBSERVATION,
    DEVICE_EXPOSURE,
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_tables_name_their_concept_and_date_columns() {
        for t in EVENT_TABLES {
            let c = t.column(t.event_concept.unwrap()).unwrap();
            assert_eq!(c.role, Role::Concept, "{}", t.name);
            let d = t.column(t.event_date.unwrap()).unwrap();
            assert_eq!(d.kind, Kind::Date, "{}", t.name);
            assert!(t.column("person_id").is_some(), "{}", t.name);
        }
        let names: std::collections::HashSet<_> = TABLES.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), TABLES.len());
    }
}
