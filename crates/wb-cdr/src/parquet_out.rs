//! Writing the vocabulary tables (OMOP CDM v5.4 columns) as Parquet, byte for byte the same for
//! the same input, with a manifest of row counts and content hashes so a rebuild can be checked.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use crate::vocabulary::{Domain, Vocabulary};

#[derive(Debug, thiserror::Error)]
pub enum CdrError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode {table}: {message}")]
    Encode { table: String, message: String },
    #[error("{0} exists already: choose another directory or remove it")]
    Exists(String),
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
    /// An index written by an older version; it is derived data, so it can be rebuilt.
    #[error("{0} is an index of an older format: rebuild it with `wb cdr index`")]
    OldIndex(String),
    /// A SQL query over the CDR (a compiled cohort, for one) failed to plan or run.
    #[error("the query over the CDR failed: {0}")]
    Query(String),
}

impl From<crate::staging::StagingError> for CdrError {
    fn from(e: crate::staging::StagingError) -> Self {
        match e {
            crate::staging::StagingError::Exists(p) => CdrError::Exists(p.display().to_string()),
            crate::staging::StagingError::Io { path, source } => CdrError::Io {
                path: path.display().to_string(),
                source,
            },
        }
    }
}

/// One table written: its file, row count and a hash of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFile {
    pub table: &'static str,
    pub rows: usize,
    /// FNV-1a 64 of the file's bytes, hex.
    pub hash: String,
}

/// Days since 1970-01-01 of the OMOP "valid" window every generated concept carries.
const VALID_START: i32 = 0; // 1970-01-01
const VALID_END: i32 = 47_482; // 2099-12-31

fn fnv64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn write_table(
    dir: &Path,
    table: &'static str,
    columns: Vec<(&str, DataType, bool, ArrayRef)>,
) -> Result<TableFile, CdrError> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t, nullable, _)| Field::new(*n, t.clone(), *nullable))
            .collect::<Vec<_>>(),
    ));
    let rows = columns.first().map(|c| c.3.len()).unwrap_or(0);
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.3).collect())
        .map_err(|e| CdrError::Encode {
            table: table.into(),
            message: e.to_string(),
        })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("workbench wb-cdr".into())
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut bytes = Vec::new();
    {
        let mut w = ArrowWriter::try_new(&mut bytes, schema, Some(props)).map_err(|e| {
            CdrError::Encode {
                table: table.into(),
                message: e.to_string(),
            }
        })?;
        w.write(&batch).map_err(|e| CdrError::Encode {
            table: table.into(),
            message: e.to_string(),
        })?;
        w.close().map_err(|e| CdrError::Encode {
            table: table.into(),
            message: e.to_string(),
        })?;
    }
    let path = dir.join(format!("{table}.parquet"));
    std::fs::write(&path, &bytes).map_err(|source| CdrError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(TableFile {
        table,
        rows,
        hash: fnv64(&bytes),
    })
}

fn strings<I: IntoIterator<Item = S>, S: AsRef<str>>(values: I) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn ints<I: IntoIterator<Item = i64>>(values: I) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values))
}

fn dates(n: usize, day: i32) -> ArrayRef {
    Arc::new(Date32Array::from(vec![day; n]))
}

fn nulls(n: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![None::<&str>; n]))
}

/// Writes `concept`, `concept_ancestor`, `concept_relationship`, `vocabulary`, `domain` and
/// `concept_class` into `dir` (created if missing). Rows are sorted by their keys.
pub fn write_vocabulary(dir: &Path, v: &Vocabulary) -> Result<Vec<TableFile>, CdrError> {
    std::fs::create_dir_all(dir).map_err(|source| CdrError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut concepts: Vec<_> = v.concepts.iter().collect();
    concepts.sort_by_key(|c| c.concept_id);
    let n = concepts.len();
    let mut out = vec![write_table(
        dir,
        "concept",
        vec![
            (
                "concept_id",
                DataType::Int64,
                false,
                ints(concepts.iter().map(|c| c.concept_id)),
            ),
            (
                "concept_name",
                DataType::Utf8,
                false,
                strings(concepts.iter().map(|c| c.concept_name.as_str())),
            ),
            (
                "domain_id",
                DataType::Utf8,
                false,
                strings(concepts.iter().map(|c| c.domain.id())),
            ),
            (
                "vocabulary_id",
                DataType::Utf8,
                false,
                strings(concepts.iter().map(|c| c.vocabulary_id)),
            ),
            (
                "concept_class_id",
                DataType::Utf8,
                false,
                strings(concepts.iter().map(|c| c.concept_class_id)),
            ),
            (
                "standard_concept",
                DataType::Utf8,
                true,
                Arc::new(StringArray::from(
                    concepts
                        .iter()
                        .map(|c| c.standard.then_some("S"))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "concept_code",
                DataType::Utf8,
                false,
                strings(concepts.iter().map(|c| c.concept_code.as_str())),
            ),
            (
                "valid_start_date",
                DataType::Date32,
                false,
                dates(n, VALID_START),
            ),
            (
                "valid_end_date",
                DataType::Date32,
                false,
                dates(n, VALID_END),
            ),
            ("invalid_reason", DataType::Utf8, true, nulls(n)),
        ],
    )?];
    let ancestors = v.ancestors();
    out.push(write_table(
        dir,
        "concept_ancestor",
        vec![
            (
                "ancestor_concept_id",
                DataType::Int64,
                false,
                ints(ancestors.iter().map(|r| r.ancestor)),
            ),
            (
                "descendant_concept_id",
                DataType::Int64,
                false,
                ints(ancestors.iter().map(|r| r.descendant)),
            ),
            (
                "min_levels_of_separation",
                DataType::Int64,
                false,
                ints(ancestors.iter().map(|r| i64::from(r.min_levels))),
            ),
            (
                "max_levels_of_separation",
                DataType::Int64,
                false,
                ints(ancestors.iter().map(|r| i64::from(r.max_levels))),
            ),
        ],
    )?);
    // "Is a" (child → parent) and its reverse "Subsumes".
    let mut rel: Vec<(i64, i64, &str)> = v
        .is_a
        .iter()
        .flat_map(|(c, p)| [(*c, *p, "Is a"), (*p, *c, "Subsumes")])
        .collect();
    rel.sort();
    let m = rel.len();
    out.push(write_table(
        dir,
        "concept_relationship",
        vec![
            (
                "concept_id_1",
                DataType::Int64,
                false,
                ints(rel.iter().map(|r| r.0)),
            ),
            (
                "concept_id_2",
                DataType::Int64,
                false,
                ints(rel.iter().map(|r| r.1)),
            ),
            (
                "relationship_id",
                DataType::Utf8,
                false,
                strings(rel.iter().map(|r| r.2)),
            ),
            (
                "valid_start_date",
                DataType::Date32,
                false,
                dates(m, VALID_START),
            ),
            (
                "valid_end_date",
                DataType::Date32,
                false,
                dates(m, VALID_END),
            ),
            ("invalid_reason", DataType::Utf8, true, nulls(m)),
        ],
    )?);
    let mut synonyms: Vec<(i64, &str)> = v.synonyms.iter().map(|(c, s)| (*c, s.as_str())).collect();
    synonyms.sort_unstable();
    out.push(write_table(
        dir,
        "concept_synonym",
        vec![
            (
                "concept_id",
                DataType::Int64,
                false,
                ints(synonyms.iter().map(|s| s.0)),
            ),
            (
                "concept_synonym_name",
                DataType::Utf8,
                false,
                strings(synonyms.iter().map(|s| s.1)),
            ),
            (
                "language_concept_id",
                DataType::Int64,
                false,
                // English.
                ints(std::iter::repeat_n(4180186, synonyms.len())),
            ),
        ],
    )?);
    let mut vocabularies: Vec<&str> = v.concepts.iter().map(|c| c.vocabulary_id).collect();
    vocabularies.sort_unstable();
    vocabularies.dedup();
    let k = vocabularies.len();
    out.push(write_table(
        dir,
        "vocabulary",
        vec![
            (
                "vocabulary_id",
                DataType::Utf8,
                false,
                strings(vocabularies.iter()),
            ),
            (
                "vocabulary_name",
                DataType::Utf8,
                false,
                strings(vocabularies.iter().map(|v| {
                    if *v == "WB Synthetic" {
                        "Workbench synthetic vocabulary (licence-clean)".to_owned()
                    } else {
                        format!("{v} (public concepts used by name and id only)")
                    }
                })),
            ),
            ("vocabulary_reference", DataType::Utf8, true, nulls(k)),
            ("vocabulary_version", DataType::Utf8, true, nulls(k)),
            (
                "vocabulary_concept_id",
                DataType::Int64,
                false,
                ints(std::iter::repeat_n(0, k)),
            ),
        ],
    )?);
    out.push(write_table(
        dir,
        "domain",
        vec![
            (
                "domain_id",
                DataType::Utf8,
                false,
                strings(Domain::EVERY.iter().map(|d| d.id())),
            ),
            (
                "domain_name",
                DataType::Utf8,
                false,
                strings(Domain::EVERY.iter().map(|d| d.id())),
            ),
            (
                "domain_concept_id",
                DataType::Int64,
                false,
                ints(std::iter::repeat_n(0, Domain::EVERY.len())),
            ),
        ],
    )?);
    let mut classes: Vec<&str> = v.concepts.iter().map(|c| c.concept_class_id).collect();
    classes.sort_unstable();
    classes.dedup();
    out.push(write_table(
        dir,
        "concept_class",
        vec![
            (
                "concept_class_id",
                DataType::Utf8,
                false,
                strings(classes.iter()),
            ),
            (
                "concept_class_name",
                DataType::Utf8,
                false,
                strings(classes.iter()),
            ),
            (
                "concept_class_concept_id",
                DataType::Int64,
                false,
                ints(std::iter::repeat_n(0, classes.len())),
            ),
        ],
    )?);
    Ok(out)
}

/// Writes `person.parquet` with persons `0..count` of `cfg`.
pub fn write_persons(
    dir: &Path,
    cfg: &crate::persons::PersonConfig,
    count: u64,
) -> Result<TableFile, CdrError> {
    std::fs::create_dir_all(dir).map_err(|source| CdrError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let people: Vec<crate::persons::Person> =
        (0..count).map(|i| crate::persons::person(cfg, i)).collect();
    let n = people.len();
    write_table(
        dir,
        "person",
        vec![
            (
                "person_id",
                DataType::Int64,
                false,
                ints(people.iter().map(|p| p.person_id)),
            ),
            (
                "gender_concept_id",
                DataType::Int64,
                false,
                ints(people.iter().map(|p| p.gender_concept_id)),
            ),
            (
                "year_of_birth",
                DataType::Int64,
                false,
                ints(people.iter().map(|p| i64::from(p.year_of_birth))),
            ),
            (
                "month_of_birth",
                DataType::Int64,
                true,
                ints(people.iter().map(|p| i64::from(p.month_of_birth))),
            ),
            (
                "day_of_birth",
                DataType::Int64,
                true,
                ints(people.iter().map(|p| i64::from(p.day_of_birth))),
            ),
            (
                "race_concept_id",
                DataType::Int64,
                false,
                ints(people.iter().map(|p| p.race_concept_id)),
            ),
            (
                "ethnicity_concept_id",
                DataType::Int64,
                false,
                ints(people.iter().map(|p| p.ethnicity_concept_id)),
            ),
            (
                "location_id",
                DataType::Int64,
                true,
                Arc::new(Int64Array::from(vec![None::<i64>; n])),
            ),
            (
                "person_source_value",
                DataType::Utf8,
                true,
                strings(people.iter().map(|p| format!("P{:09}", p.person_id))),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::{VocabularyConfig, generate};

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("wb-cdr-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// The hierarchy rollup computed in memory agrees with SQL over the written Parquet in
    /// DataFusion (the reference semantics for later engines).
    #[tokio::test]
    async fn rollups_agree_with_sql_over_the_parquet() {
        use datafusion::arrow::array::Int64Array;
        use datafusion::prelude::{ParquetReadOptions, SessionContext};
        let v = generate(&VocabularyConfig {
            seed: 5,
            concepts_per_domain: 800,
            ..Default::default()
        });
        let dir = tmp("sql");
        write_vocabulary(&dir, &v).unwrap();
        let ctx = SessionContext::new();
        for t in ["concept", "concept_ancestor"] {
            ctx.register_parquet(
                t,
                dir.join(format!("{t}.parquet")).to_str().unwrap(),
                ParquetReadOptions::default(),
            )
            .await
            .unwrap();
        }
        let ancestors = v.ancestors();
        for ancestor in [201820_i64, 316866, crate::vocabulary::SYNTHETIC_ID_BASE] {
            let expected = ancestors.iter().filter(|r| r.ancestor == ancestor).count() as i64;
            let batches = ctx
                .sql(&format!(
                    "SELECT COUNT(*) AS n FROM concept_ancestor a JOIN concept c \
                     ON c.concept_id = a.descendant_concept_id WHERE a.ancestor_concept_id = {ancestor}"
                ))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let n = batches[0]
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0);
            assert_eq!(n, expected, "descendants of {ancestor}");
        }
    }

    #[test]
    fn person_files_are_deterministic() {
        let cfg = crate::persons::PersonConfig::default();
        let a = write_persons(&tmp("pa"), &cfg, 3_000).unwrap();
        let b = write_persons(&tmp("pb"), &cfg, 3_000).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.rows, 3_000);
        let c = write_persons(
            &tmp("pc"),
            &crate::persons::PersonConfig { seed: 2, ..cfg },
            3_000,
        )
        .unwrap();
        assert_ne!(a.hash, c.hash);
    }

    #[test]
    fn the_same_seed_writes_byte_identical_files() {
        let cfg = VocabularyConfig {
            seed: 3,
            concepts_per_domain: 500,
            ..Default::default()
        };
        let a = tmp("a");
        let b = tmp("b");
        let fa = write_vocabulary(&a, &generate(&cfg)).unwrap();
        let fb = write_vocabulary(&b, &generate(&cfg)).unwrap();
        assert_eq!(fa, fb);
        for f in &fa {
            let x = std::fs::read(a.join(format!("{}.parquet", f.table))).unwrap();
            let y = std::fs::read(b.join(format!("{}.parquet", f.table))).unwrap();
            assert_eq!(x, y, "{}", f.table);
        }
        let other =
            write_vocabulary(&tmp("c"), &generate(&VocabularyConfig { seed: 4, ..cfg })).unwrap();
        assert_ne!(fa[0].hash, other[0].hash);
        assert_eq!(
            fa.iter().find(|f| f.table == "concept").unwrap().rows,
            generate(&cfg).concepts.len()
        );
    }
}
