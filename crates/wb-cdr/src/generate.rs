//! `wb cdr generate`: a whole synthetic CDR (vocabulary and clinical tables) written as Parquet,
//! deterministic in its configuration, with bounded memory at any scale.
//!
//! Persons are generated in chunks by worker threads and written in chunk order by one writer,
//! so the output is byte-identical whatever the thread count. Memory holds a few chunks' rows
//! and each table's open row group, not the data set. Everything is written into a staging
//! directory that is renamed into place at the end: a failed or interrupted run leaves nothing
//! that looks like a CDR.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::events::{Catalog, Clinical, EventConfig, generate_person};
use crate::parquet_out::{CdrError, write_vocabulary};
use crate::persons::PersonConfig;
use crate::staging::Staging;
use crate::vocabulary::{self, VocabularyConfig};

/// What `wb cdr generate` makes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateConfig {
    pub seed: u64,
    pub persons: u64,
    /// Generated concepts per domain (six domains).
    pub concepts_per_domain: usize,
    pub cutoff_year: i32,
    pub ehr_share: f64,
    /// Worker threads (the output does not depend on it).
    pub threads: usize,
    /// Persons per chunk (the output does not depend on it either).
    pub chunk: u64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            persons: 10_000,
            concepts_per_domain: 10_000,
            cutoff_year: 2025,
            ehr_share: 0.65,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            chunk: 2_000,
        }
    }
}

/// `manifest.json` of a CDR directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// "synthetic" or "import".
    pub kind: String,
    pub seed: Option<u64>,
    pub persons: u64,
    pub concepts_per_domain: Option<usize>,
    pub cutoff_year: Option<i32>,
    pub tables: Vec<ManifestTable>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestTable {
    pub table: String,
    pub rows: u64,
    /// FNV-1a 64 of the file's bytes, hex (equal hashes: byte-identical files).
    pub hash: String,
}

impl Manifest {
    pub const FILE: &'static str = "manifest.json";
    pub const FORMAT: &'static str = "workbench-cdr/1";

    pub fn read(dir: &Path) -> Result<Manifest, CdrError> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| CdrError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| CdrError::Encode {
            table: Self::FILE.into(),
            message: e.to_string(),
        })
    }

    pub fn write(&self, dir: &Path) -> Result<(), CdrError> {
        let path = dir.join(Self::FILE);
        let text = serde_json::to_string_pretty(self).expect("manifest serialises");
        std::fs::write(&path, text + "\n").map_err(|source| CdrError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn events(&self) -> u64 {
        self.tables
            .iter()
            .filter(|t| {
                crate::schema::EVENT_TABLES
                    .iter()
                    .any(|e| e.name == t.table)
            })
            .map(|t| t.rows)
            .sum()
    }
}

/// FNV-1a over everything written through it.
struct Hashing<W> {
    inner: W,
    hash: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        for b in &buf[..n] {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One Parquet file being written batch by batch. Rows are re-cut into batches of
/// [`ParquetSink::BATCH`] rows before encoding, so the bytes do not depend on how callers
/// chunked them (page boundaries follow the batches the encoder is given).
pub struct ParquetSink {
    table: &'static str,
    path: PathBuf,
    writer: ArrowWriter<Hashing<BufWriter<File>>>,
    schema: datafusion::arrow::datatypes::SchemaRef,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    rows: u64,
}

/// The writer settings every CDR file uses (fixed, so output is reproducible).
pub fn writer_properties() -> WriterProperties {
    writer_properties_builder().build()
}

/// [`writer_properties`] before `build()`, for a file that needs one more setting.
pub fn writer_properties_builder() -> datafusion::parquet::file::properties::WriterPropertiesBuilder
{
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("workbench wb-cdr".into())
        .set_max_row_group_row_count(Some(1 << 20))
}

impl ParquetSink {
    pub const BATCH: usize = 64 * 1024;

    pub fn create(dir: &Path, table: &'static crate::schema::Table) -> Result<Self, CdrError> {
        Self::create_with(dir, table, writer_properties())
    }

    /// [`ParquetSink::create`] with other writer settings.
    pub fn create_with(
        dir: &Path,
        table: &'static crate::schema::Table,
        props: WriterProperties,
    ) -> Result<Self, CdrError> {
        let path = dir.join(format!("{}.parquet", table.name));
        let file = File::create(&path).map_err(|source| CdrError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let out = Hashing {
            inner: BufWriter::with_capacity(1 << 20, file),
            hash: 0xcbf2_9ce4_8422_2325,
        };
        let schema = table.arrow_schema();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))
            .map_err(|e| encode(table.name, e))?;
        Ok(Self {
            table: table.name,
            path,
            writer,
            schema,
            pending: Vec::new(),
            pending_rows: 0,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), CdrError> {
        self.rows += batch.num_rows() as u64;
        self.pending_rows += batch.num_rows();
        self.pending.push(batch.clone());
        if self.pending_rows >= Self::BATCH {
            self.drain(false)?;
        }
        Ok(())
    }

    /// Encodes whole batches of `BATCH` rows (and, at the end, the rest).
    fn drain(&mut self, all: bool) -> Result<(), CdrError> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let merged = datafusion::arrow::compute::concat_batches(&self.schema, &self.pending)
            .map_err(|e| encode(self.table, e))?;
        self.pending.clear();
        let mut offset = 0;
        while merged.num_rows() - offset >= Self::BATCH {
            self.writer
                .write(&merged.slice(offset, Self::BATCH))
                .map_err(|e| encode(self.table, e))?;
            offset += Self::BATCH;
        }
        let rest = merged.num_rows() - offset;
        if rest > 0 {
            if all {
                self.writer
                    .write(&merged.slice(offset, rest))
                    .map_err(|e| encode(self.table, e))?;
            } else {
                self.pending.push(merged.slice(offset, rest));
            }
        }
        self.pending_rows = if all { 0 } else { rest };
        Ok(())
    }

    pub fn finish(mut self) -> Result<ManifestTable, CdrError> {
        self.drain(true)?;
        let mut out = self
            .writer
            .into_inner()
            .map_err(|e| encode(self.table, e))?;
        out.flush().map_err(|source| CdrError::Io {
            path: self.path.display().to_string(),
            source,
        })?;
        Ok(ManifestTable {
            table: self.table.into(),
            rows: self.rows,
            hash: format!("{:016x}", out.hash),
        })
    }
}

fn encode(table: &str, e: impl std::fmt::Display) -> CdrError {
    CdrError::Encode {
        table: table.into(),
        message: e.to_string(),
    }
}

/// Generates the clinical tables for persons `0..cfg.persons` into `dir` (which exists).
/// `progress(done, total)` is called from the writing thread after each chunk.
pub fn write_clinical(
    dir: &Path,
    cfg: &GenerateConfig,
    vocab: &vocabulary::Vocabulary,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<ManifestTable>, CdrError> {
    let catalog = Catalog::new(vocab, cfg.seed);
    let ecfg = EventConfig {
        seed: cfg.seed,
        persons: PersonConfig {
            seed: cfg.seed,
            cutoff_year: cfg.cutoff_year,
            ehr_share: cfg.ehr_share,
        },
    };
    let mut sinks = Clinical::new()
        .tables_mut()
        .iter()
        .map(|t| ParquetSink::create(dir, t.table))
        .collect::<Result<Vec<_>, _>>()?;
    let chunk = cfg.chunk.max(1);
    let chunks = cfg.persons.div_ceil(chunk);
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let threads = cfg.threads.max(1);
    // Workers may run at most `window` chunks ahead of the writer: bounded memory.
    let window = (threads as u64) * 2;
    let written = AtomicU64::new(0);
    let (tx, rx) = mpsc::sync_channel::<(u64, Vec<RecordBatch>)>(threads * 2);
    let result = std::thread::scope(|scope| -> Result<(), CdrError> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, written, catalog, ecfg) = (&next, &stop, &written, &catalog, &ecfg);
            scope.spawn(move || {
                loop {
                    let c = next.fetch_add(1, Ordering::SeqCst);
                    if c >= chunks || stop.load(Ordering::SeqCst) {
                        return;
                    }
                    while c >= written.load(Ordering::SeqCst) + window {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    let mut rows = Clinical::new();
                    for i in c * chunk..((c + 1) * chunk).min(cfg.persons) {
                        generate_person(catalog, ecfg, i, &mut rows);
                    }
                    let batches = rows.tables_mut().map(|t| t.finish()).to_vec();
                    if tx.send((c, batches)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<u64, Vec<RecordBatch>> = BTreeMap::new();
        let mut done = 0u64;
        let write = (|| {
            for (c, batches) in rx.iter() {
                pending.insert(c, batches);
                while let Some(batches) = pending.remove(&done) {
                    for (sink, batch) in sinks.iter_mut().zip(&batches) {
                        sink.write(batch)?;
                    }
                    done += 1;
                    written.store(done, Ordering::SeqCst);
                    progress((done * chunk).min(cfg.persons), cfg.persons);
                }
            }
            Ok(())
        })();
        if write.is_err() {
            stop.store(true, Ordering::SeqCst);
            // Unblock workers waiting to send.
            for _ in rx.iter() {}
        }
        write
    });
    result?;
    sinks.into_iter().map(ParquetSink::finish).collect()
}

/// Generates a whole CDR into `out` (which must not exist): vocabulary, clinical tables and
/// `manifest.json`, published atomically. `before_publish` runs on the finished staging
/// directory (the index is built there) before it becomes visible.
pub fn generate(
    out: &Path,
    cfg: &GenerateConfig,
    progress: &(dyn Fn(u64, u64) + Sync),
    before_publish: &mut dyn FnMut(&Path) -> Result<(), CdrError>,
) -> Result<Manifest, CdrError> {
    if out.symlink_metadata().is_ok() {
        return Err(CdrError::Exists(out.display().to_string()));
    }
    let staging = Staging::create(out, "generating")?;
    let vocab = vocabulary::generate(&VocabularyConfig {
        seed: cfg.seed,
        concepts_per_domain: cfg.concepts_per_domain,
        ..Default::default()
    });
    let mut tables: Vec<ManifestTable> = write_vocabulary(staging.path(), &vocab)?
        .into_iter()
        .map(|f| ManifestTable {
            table: f.table.into(),
            rows: f.rows as u64,
            hash: f.hash,
        })
        .collect();
    tables.extend(write_clinical(staging.path(), cfg, &vocab, progress)?);
    let manifest = Manifest {
        format: Manifest::FORMAT.into(),
        kind: "synthetic".into(),
        seed: Some(cfg.seed),
        persons: cfg.persons,
        concepts_per_domain: Some(cfg.concepts_per_domain),
        cutoff_year: Some(cfg.cutoff_year),
        tables,
    };
    manifest.write(staging.path())?;
    before_publish(staging.path())?;
    staging.publish(out, false)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::prelude::SessionContext;

    fn small(persons: u64, threads: usize, chunk: u64) -> GenerateConfig {
        GenerateConfig {
            seed: 11,
            persons,
            concepts_per_domain: 600,
            threads,
            chunk,
            ..Default::default()
        }
    }

    fn gen_into(dir: &Path, cfg: &GenerateConfig) -> Manifest {
        generate(dir, cfg, &|_, _| {}, &mut |_| Ok(())).unwrap()
    }

    async fn ints(ctx: &SessionContext, sql: &str) -> Vec<i64> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batches
            .iter()
            .flat_map(|b| {
                let c = b.column(0).as_primitive::<Int64Type>();
                (0..c.len()).map(|i| c.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    async fn one(ctx: &SessionContext, sql: &str) -> i64 {
        ints(ctx, sql).await[0]
    }

    #[test]
    fn the_same_seed_gives_byte_identical_files_whatever_the_threads_and_chunks() {
        let tmp = tempfile::tempdir().unwrap();
        let a = gen_into(&tmp.path().join("a"), &small(700, 1, 128));
        let b = gen_into(&tmp.path().join("b"), &small(700, 3, 50));
        assert_eq!(a, b);
        for t in &a.tables {
            let x = std::fs::read(tmp.path().join("a").join(format!("{}.parquet", t.table)));
            let y = std::fs::read(tmp.path().join("b").join(format!("{}.parquet", t.table)));
            assert_eq!(x.unwrap(), y.unwrap(), "{}", t.table);
        }
        let other = gen_into(
            &tmp.path().join("c"),
            &GenerateConfig {
                seed: 12,
                ..small(700, 2, 128)
            },
        );
        let hash =
            |m: &Manifest, t: &str| m.tables.iter().find(|x| x.table == t).unwrap().hash.clone();
        assert_ne!(hash(&a, "measurement"), hash(&other, "measurement"));
        assert_eq!(
            tmp.path().read_dir().unwrap().count(),
            3,
            "no staging directory is left next to a, b and c"
        );
        assert_eq!(Manifest::read(&tmp.path().join("a")).unwrap(), a);
    }

    #[test]
    fn an_existing_directory_is_refused_and_a_failed_run_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("cdr");
        std::fs::create_dir(&out).unwrap();
        assert!(matches!(
            generate(&out, &small(10, 1, 10), &|_, _| {}, &mut |_| Ok(())),
            Err(CdrError::Exists(_))
        ));
        let out = tmp.path().join("cdr2");
        let err = generate(&out, &small(10, 1, 10), &|_, _| {}, &mut |_| {
            Err(CdrError::Invalid("index build failed".into()))
        });
        assert!(err.is_err());
        assert!(!out.exists());
        assert_eq!(
            tmp.path().read_dir().unwrap().count(),
            1,
            "only the first dir remains"
        );
    }

    /// Persons 0..n of a larger scale are the same persons with the same rows.
    #[tokio::test]
    async fn smaller_scales_are_exact_prefixes() {
        let tmp = tempfile::tempdir().unwrap();
        gen_into(&tmp.path().join("s"), &small(300, 2, 64));
        gen_into(&tmp.path().join("l"), &small(900, 2, 100));
        let s = crate::parquet_in::sql_context(&tmp.path().join("s")).await;
        let l = crate::parquet_in::sql_context(&tmp.path().join("l")).await;
        for t in crate::schema::TABLES
            .iter()
            .filter(|t| t.part == crate::schema::Part::Clinical)
        {
            let cols: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
            // A canonical text form of every row, in file order.
            let text = format!(
                "SELECT CAST(concat_ws('|', {}) AS VARCHAR) AS r FROM {} ",
                cols.iter()
                    .map(|c| format!("coalesce(CAST({c} AS VARCHAR), '~')"))
                    .collect::<Vec<_>>()
                    .join(", "),
                t.name
            );
            let rows = |ctx: SessionContext, filter: &'static str| {
                let sql = format!("{text}{filter}");
                async move {
                    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                    batches
                        .iter()
                        .flat_map(|b| {
                            let c = datafusion::arrow::compute::cast(
                                b.column(0),
                                &datafusion::arrow::datatypes::DataType::Utf8,
                            )
                            .unwrap();
                            let c = c.as_string::<i32>();
                            (0..c.len())
                                .map(|i| c.value(i).to_owned())
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<String>>()
                }
            };
            let small_rows = rows(s.clone(), "").await;
            let large_rows = rows(l.clone(), "WHERE person_id <= 300").await;
            assert_eq!(small_rows, large_rows, "{}", t.name);
            if t.name != "death" {
                assert!(!small_rows.is_empty(), "{}", t.name);
            }
        }
    }

    /// The generated data has the intended shape: demographics, domain mix, Zipf skew,
    /// trajectories in time order, values and units, surveys, and no dangling references.
    #[tokio::test]
    async fn the_data_is_plausible_and_consistent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cdr");
        let m = gen_into(
            &dir,
            &GenerateConfig {
                concepts_per_domain: 2_000,
                ..small(3_000, 2, 500)
            },
        );
        let ctx = crate::parquet_in::sql_context(&dir).await;
        let rows = |t: &str| m.tables.iter().find(|x| x.table == t).unwrap().rows as f64;
        assert_eq!(rows("person"), 3_000.0);
        let events = m.events() as f64;
        assert!(
            events / 3_000.0 > 50.0,
            "{} events per person",
            events / 3_000.0
        );
        let share = |t: &str| rows(t) / events;
        assert!(
            (0.35..0.6).contains(&share("measurement")),
            "measurement {}",
            share("measurement")
        );
        assert!(
            (0.08..0.25).contains(&share("drug_exposure")),
            "drug {}",
            share("drug_exposure")
        );
        assert!((0.05..0.2).contains(&share("condition_occurrence")));
        assert!(rows("device_exposure") > 0.0 && rows("death") > 0.0);

        // Every referenced concept and person exists.
        for t in crate::schema::TABLES {
            if !dir.join(format!("{}.parquet", t.name)).exists() {
                continue;
            }
            for c in t.columns {
                let orphan = match c.role {
                    crate::schema::Role::Concept => format!(
                        "SELECT COUNT(*) FROM {0} x LEFT JOIN concept c ON c.concept_id = x.{1} \
                         WHERE x.{1} IS NOT NULL AND x.{1} <> 0 AND c.concept_id IS NULL",
                        t.name, c.name
                    ),
                    crate::schema::Role::Person => format!(
                        "SELECT COUNT(*) FROM {0} x LEFT JOIN person p ON p.person_id = x.{1} \
                         WHERE p.person_id IS NULL",
                        t.name, c.name
                    ),
                    _ => continue,
                };
                assert_eq!(one(&ctx, &orphan).await, 0, "{}.{}", t.name, c.name);
            }
        }
        // Events lie inside the person's observation period.
        let outside = one(
            &ctx,
            "SELECT COUNT(*) FROM measurement m JOIN observation_period o ON o.person_id = m.person_id \
             WHERE m.measurement_date < o.observation_period_start_date \
                OR m.measurement_date > o.observation_period_end_date",
        )
        .await;
        assert_eq!(outside, 0);
        // Zipf: the most common condition leaf is far more common than the median one.
        let counts = ints(
            &ctx,
            "SELECT COUNT(DISTINCT person_id) AS n FROM condition_occurrence \
             WHERE condition_concept_id >= 2100000000 GROUP BY condition_concept_id ORDER BY n DESC",
        )
        .await;
        assert!(
            counts[0] > 20 * counts[counts.len() / 2],
            "{:?}",
            &counts[..5]
        );
        // Diabetics: prevalence plausible; metformin starts 0–90 days after the first diagnosis
        // for most; HbA1c at diagnosis is in the diabetic range.
        let diabetics = one(
            &ctx,
            "SELECT COUNT(DISTINCT person_id) FROM condition_occurrence WHERE condition_concept_id = 201826",
        )
        .await;
        let ehr = one(
            &ctx,
            "SELECT COUNT(DISTINCT person_id) FROM visit_occurrence",
        )
        .await;
        let prevalence = diabetics as f64 / ehr as f64;
        assert!(
            (0.08..0.25).contains(&prevalence),
            "diabetes prevalence {prevalence}"
        );
        let metformin_after = one(
            &ctx,
            "WITH dx AS (SELECT person_id, MIN(condition_start_date) AS d FROM condition_occurrence \
                         WHERE condition_concept_id = 201826 GROUP BY person_id), \
                  rx AS (SELECT person_id, MIN(drug_exposure_start_date) AS d FROM drug_exposure \
                         WHERE drug_concept_id = 1503297 GROUP BY person_id) \
             SELECT COUNT(*) FROM dx JOIN rx ON rx.person_id = dx.person_id \
             WHERE rx.d >= dx.d AND rx.d <= dx.d + INTERVAL '90' DAY",
        )
        .await;
        assert!(
            metformin_after as f64 > 0.7 * diabetics as f64,
            "{metformin_after} of {diabetics} diabetics on metformin within 90 days"
        );
        let metformin_before = one(
            &ctx,
            "SELECT COUNT(*) FROM drug_exposure d WHERE drug_concept_id = 1503297 AND NOT EXISTS \
             (SELECT 1 FROM condition_occurrence c WHERE c.person_id = d.person_id \
              AND c.condition_concept_id = 201826 AND c.condition_start_date <= d.drug_exposure_start_date)",
        )
        .await;
        assert_eq!(
            metformin_before, 0,
            "metformin only after a diabetes diagnosis"
        );
        let high_a1c = one(
            &ctx,
            "SELECT COUNT(DISTINCT m.person_id) FROM measurement m JOIN condition_occurrence c \
             ON c.person_id = m.person_id AND c.condition_concept_id = 201826 \
             AND c.condition_start_date = m.measurement_date \
             WHERE m.measurement_concept_id = 3004410 AND m.value_as_number >= 6.5 AND m.unit_concept_id = 8554",
        )
        .await;
        assert!(
            high_a1c as f64 > 0.9 * diabetics as f64,
            "{high_a1c} of {diabetics}"
        );
        // Everyone answered The Basics once; answers agree with the person's sex.
        let basics = one(
            &ctx,
            "SELECT COUNT(DISTINCT person_id) FROM observation WHERE observation_source_value = 'BiologicalSexAtBirth_SexAtBirth'",
        )
        .await;
        assert_eq!(basics, 3_000);
        let disagree = one(
            &ctx,
            "SELECT COUNT(*) FROM observation o JOIN person p ON p.person_id = o.person_id \
             WHERE o.observation_source_value = 'BiologicalSexAtBirth_SexAtBirth' \
             AND ((p.gender_concept_id = 8532 AND o.value_as_string = 'Male') \
               OR (p.gender_concept_id = 8507 AND o.value_as_string = 'Female'))",
        )
        .await;
        assert_eq!(disagree, 0);
        // Measurements carry values with units, or a qualitative answer.
        let bare = one(
            &ctx,
            "SELECT COUNT(*) FROM measurement WHERE value_as_number IS NULL AND value_as_concept_id IS NULL",
        )
        .await;
        assert_eq!(bare, 0);
        let unitless = one(
            &ctx,
            "SELECT COUNT(*) FROM measurement WHERE value_as_number IS NOT NULL AND unit_concept_id IS NULL",
        )
        .await;
        assert_eq!(unitless, 0);
    }
}
