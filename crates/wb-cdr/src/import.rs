//! `wb cdr import`: a real OMOP CDM export (an Athena vocabulary download plus the CDM tables,
//! as CSV or Parquet) checked against [`crate::schema`] and written as a CDR directory.
//!
//! Every table of [`schema::TABLES`] is looked for in the source directory as `{name}.parquet`,
//! `{name}.csv` or Athena's `{NAME}.csv` (file names compare case-insensitively). CSV files may
//! be tab-delimited (Athena: no quoting, dates as `YYYYMMDD`) or comma-delimited (ISO dates);
//! the delimiter is read off the header line, both date forms are accepted in either, and an
//! empty field is NULL. Column names compare case-insensitively; extra columns are dropped.
//!
//! Validation reports each problem with its file, data row (1-based, the header not counted),
//! column and reason: missing tables and columns, values of the wrong type, NULLs in required
//! columns, concept and person ids that are not in `concept` / `person`, event dates outside the
//! accepted range and end dates before start dates.
//!
//! Nothing half-imported becomes visible: `concept` and `person` are checked first (nothing is
//! written when they are broken), then every table is checked and streamed into a staging
//! directory next to `out`, `manifest.json` is written, the caller's `publish_hook` runs on the
//! staging directory (it builds the index there), and only then is the staging directory
//! renamed to `out`. Any failure removes the staging directory and leaves `out` untouched.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    new_null_array,
};
use datafusion::arrow::compute::{can_cast_types, cast};
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use roaring::RoaringTreemap;
use serde::Serialize;

use crate::dates;
use crate::generate::{Manifest, ManifestTable, ParquetSink};
use crate::schema::{self, Column, Kind, Role, Table};
use crate::staging::{Staging, StagingError};

/// How [`import`] validates and publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The earliest accepted event date, in days since 1970-01-01 (default 1900-01-01).
    pub min_date: i32,
    /// The latest accepted event date, in days since 1970-01-01 (default: today, UTC).
    pub max_date: i32,
    /// Replace an existing `out` (it is only removed once the new import is in place).
    pub replace: bool,
    /// Problems listed per file; further ones are only counted.
    pub max_problems_per_file: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            min_date: dates::days_from_civil(1900, 1, 1),
            max_date: (now / 86_400) as i32,
            replace: false,
            max_problems_per_file: 50,
        }
    }
}

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file's name in the source directory (for a missing table: the names looked for).
    pub file: String,
    /// The 1-based data row (the header line is not counted), when the problem is in one row.
    pub row: Option<u64>,
    pub column: Option<String>,
    pub reason: String,
}

impl fmt::Display for Problem {
    /// `file:row N: column: reason`, leaving out what is not known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(row) = self.row {
            write!(f, ":row {row}")?;
        }
        f.write_str(": ")?;
        if let Some(column) = &self.column {
            write!(f, "{column}: ")?;
        }
        f.write_str(&self.reason)
    }
}

fn problem_list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("\n  {p}"))
        .collect::<String>()
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input does not pass validation; nothing was imported.
    #[error("the export is not valid, nothing was imported:{}", problem_list(.0))]
    Invalid(Vec<Problem>),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {message}", .path.display())]
    Read { path: PathBuf, message: String },
    #[error("cannot write {}: {message}", .path.display())]
    Write { path: PathBuf, message: String },
    #[error("{} exists already (replace it explicitly)", .0.display())]
    Exists(PathBuf),
    /// The caller's `publish_hook` failed; nothing was imported.
    #[error("preparing the imported CDR failed, nothing was imported: {0}")]
    Publish(String),
}

impl From<StagingError> for ImportError {
    fn from(e: StagingError) -> Self {
        match e {
            StagingError::Exists(path) => ImportError::Exists(path),
            StagingError::Io { path, source } => ImportError::Io { path, source },
        }
    }
}

/// What [`import`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Each table imported (in [`schema::TABLES`] order) and its row count.
    pub tables: Vec<(String, u64)>,
    pub out: PathBuf,
}

/// Imports the OMOP export in `from` into a new CDR directory `out`; see the module
/// documentation. `publish_hook` runs on the complete staging directory before it is renamed to
/// `out` (an `Err` from it fails the import).
pub fn import(
    from: &Path,
    out: &Path,
    opts: &ImportOptions,
    publish_hook: &mut dyn FnMut(&Path) -> Result<(), String>,
) -> Result<ImportReport, ImportError> {
    if !opts.replace && out.symlink_metadata().is_ok() {
        return Err(ImportError::Exists(out.to_owned()));
    }
    let cap = opts.max_problems_per_file.max(1);
    let mut problems = Vec::new();
    let sources = discover(from, &mut problems)?;
    let find = |name: &str| sources.iter().flatten().find(|s| s.table.name == name);

    // Pass 1: the vocabulary's concept ids and the person ids everything else refers to.
    let mut concepts = IdSet::default();
    let mut persons = IdSet::default();
    let (Some(concept), Some(person)) = (find(schema::CONCEPT.name), find(schema::PERSON.name))
    else {
        return Err(ImportError::Invalid(problems));
    };
    let before = problems.len();
    let mut log = FileLog::new(&concept.file, cap);
    let mut scan = Scan::new(concept, opts);
    scan.collect = Some(("concept", &mut concepts));
    scan.run(&mut log, None, false)?;
    log.finish(&mut problems);
    let mut log = FileLog::new(&person.file, cap);
    let mut scan = Scan::new(person, opts);
    scan.concepts = Some(&concepts);
    scan.collect = Some(("person", &mut persons));
    scan.run(&mut log, None, false)?;
    log.finish(&mut problems);
    if problems.len() > before {
        return Err(ImportError::Invalid(problems));
    }

    // Pass 2: every table, checked and (while nothing is wrong) streamed into staging.
    let staging = if problems.is_empty() {
        Some(Staging::create(out, "importing")?)
    } else {
        None
    };
    let mut written: Vec<ManifestTable> = Vec::new();
    let mut person_rows = 0;
    for src in sources.iter().flatten() {
        let target = staging
            .as_ref()
            .map(|s| s.path().join(format!("{}.parquet", src.table.name)));
        let mut sink = match (&staging, &target) {
            (Some(s), Some(target)) if problems.is_empty() => Some((
                ParquetSink::create(s.path(), src.table).map_err(|e| write_err(target, e))?,
                target.as_path(),
            )),
            _ => None,
        };
        let mut log = FileLog::new(&src.file, cap);
        let mut scan = Scan::new(src, opts);
        scan.concepts = Some(&concepts);
        scan.persons = Some(&persons);
        let rows = scan.run(
            &mut log,
            sink.as_mut().map(|(s, t)| (s, *t)),
            !problems.is_empty(),
        )?;
        let clean = log.count() == 0;
        log.finish(&mut problems);
        if src.table.name == schema::PERSON.name {
            person_rows = rows;
        }
        if let (Some((sink, target)), true) = (sink, clean && problems.is_empty()) {
            written.push(sink.finish().map_err(|e| write_err(target, e))?);
        }
    }
    let Some(staging) = staging.filter(|_| problems.is_empty()) else {
        return Err(ImportError::Invalid(problems));
    };

    let manifest = Manifest {
        format: Manifest::FORMAT.into(),
        kind: "import".into(),
        seed: None,
        persons: person_rows,
        concepts_per_domain: None,
        cutoff_year: None,
        tables: written,
    };
    let source = from.canonicalize().unwrap_or_else(|_| from.to_owned());
    let text = serde_json::to_string_pretty(&ImportManifest {
        manifest: &manifest,
        source: source.display().to_string(),
        min_date: dates::format(opts.min_date),
        max_date: dates::format(opts.max_date),
    })
    .expect("manifest serialises");
    let path = staging.path().join(Manifest::FILE);
    std::fs::write(&path, text + "\n").map_err(|source| ImportError::Io { path, source })?;
    publish_hook(staging.path()).map_err(ImportError::Publish)?;
    staging.publish(out, opts.replace)?;
    Ok(ImportReport {
        tables: manifest
            .tables
            .iter()
            .map(|t| (t.table.clone(), t.rows))
            .collect(),
        out: out.to_owned(),
    })
}

/// `manifest.json` of an import: a [`Manifest`] (so it reads as one) plus where it came from.
#[derive(Serialize)]
struct ImportManifest<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    source: String,
    min_date: String,
    max_date: String,
}

fn write_err(path: &Path, e: impl fmt::Display) -> ImportError {
    ImportError::Write {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn read_err(path: &Path, e: impl fmt::Display) -> ImportError {
    ImportError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Problems found in one file: the first `cap` are kept, the rest counted.
struct FileLog {
    file: String,
    cap: usize,
    kept: Vec<Problem>,
    more: u64,
}

impl FileLog {
    fn new(file: &str, cap: usize) -> Self {
        Self {
            file: file.to_owned(),
            cap,
            kept: Vec::new(),
            more: 0,
        }
    }

    /// Records a problem; `reason` is only formatted when the problem is kept.
    fn add(&mut self, row: Option<u64>, column: Option<&str>, reason: impl FnOnce() -> String) {
        if self.kept.len() < self.cap {
            self.kept.push(Problem {
                file: self.file.clone(),
                row,
                column: column.map(str::to_owned),
                reason: reason(),
            });
        } else {
            self.more += 1;
        }
    }

    fn count(&self) -> u64 {
        self.kept.len() as u64 + self.more
    }

    fn finish(self, into: &mut Vec<Problem>) {
        into.extend(self.kept);
        if self.more > 0 {
            into.push(Problem {
                file: self.file,
                row: None,
                column: None,
                reason: format!("and {} more problems in this file", self.more),
            });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Parquet,
}

/// Where one table is read from.
#[derive(Debug, Clone)]
struct Source {
    table: &'static Table,
    path: PathBuf,
    /// The file's name, as problems name it.
    file: String,
    format: Format,
}

/// Finds each table's file in `from`; missing required tables and ambiguous files are problems.
fn discover(from: &Path, problems: &mut Vec<Problem>) -> Result<Vec<Option<Source>>, ImportError> {
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(from).map_err(io_err(from))? {
        let entry = entry.map_err(io_err(from))?;
        if let Some(name) = entry.file_name().to_str()
            && entry.path().is_file()
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    let mut sources = Vec::new();
    for table in schema::TABLES {
        let csv = format!("{}.csv", table.name);
        let parquet = format!("{}.parquet", table.name);
        let found: Vec<&String> = names
            .iter()
            .filter(|n| {
                let n = n.to_ascii_lowercase();
                n == csv || n == parquet
            })
            .collect();
        match found.as_slice() {
            [] => {
                if table.required {
                    problems.push(Problem {
                        file: format!(
                            "{csv}, {}.csv or {parquet}",
                            table.name.to_ascii_uppercase()
                        ),
                        row: None,
                        column: None,
                        reason: "required table missing".into(),
                    });
                }
                sources.push(None);
            }
            [one] => sources.push(Some(Source {
                table,
                path: from.join(one),
                file: (*one).clone(),
                format: if one.to_ascii_lowercase().ends_with(".csv") {
                    Format::Csv
                } else {
                    Format::Parquet
                },
            })),
            several => {
                problems.push(Problem {
                    file: several
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    row: None,
                    column: None,
                    reason: format!("several files hold table {}; keep one", table.name),
                });
                sources.push(None);
            }
        }
    }
    Ok(sources)
}

/// A set of ids (concept or person), compact at Athena scale.
#[derive(Default)]
struct IdSet {
    non_negative: RoaringTreemap,
    negative: BTreeSet<i64>,
}

impl IdSet {
    /// `false` when `id` was in the set already.
    fn insert(&mut self, id: i64) -> bool {
        if id >= 0 {
            self.non_negative.insert(id as u64)
        } else {
            self.negative.insert(id)
        }
    }

    fn contains(&self, id: i64) -> bool {
        if id >= 0 {
            self.non_negative.contains(id as u64)
        } else {
            self.negative.contains(&id)
        }
    }
}

/// Rows per batch read, checked and written.
const BATCH: usize = ParquetSink::BATCH;

/// Reading, checking and (optionally) writing one table.
struct Scan<'a> {
    src: &'a Source,
    opts: &'a ImportOptions,
    /// Concept ids that `Role::Concept` columns are checked against (unchecked when `None`).
    concepts: Option<&'a IdSet>,
    /// Person ids that `Role::Person` columns are checked against (unchecked when `None`).
    persons: Option<&'a IdSet>,
    /// Collect the table's own ids (`concept_id` or `person_id`), reporting duplicates.
    collect: Option<(&'static str, &'a mut IdSet)>,
    /// Column indices by role, and (start, end) date pairs.
    concept_columns: Vec<usize>,
    person_columns: Vec<usize>,
    date_columns: Vec<usize>,
    pairs: Vec<(usize, usize)>,
}

impl<'a> Scan<'a> {
    fn new(src: &'a Source, opts: &'a ImportOptions) -> Self {
        let columns = src.table.columns;
        let with_role = |role| {
            columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.role == role)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        let date_columns = with_role(Role::EventDate);
        let pairs = date_columns
            .iter()
            .filter_map(|&s| {
                let prefix = columns[s].name.strip_suffix("_start_date")?;
                let end = format!("{prefix}_end_date");
                let e = columns.iter().position(|c| c.name == end)?;
                Some((s, e))
            })
            .collect();
        Self {
            src,
            opts,
            concepts: None,
            persons: None,
            collect: None,
            concept_columns: with_role(Role::Concept),
            person_columns: with_role(Role::Person),
            date_columns,
            pairs,
        }
    }

    /// Reads the whole file, logging problems; each batch is written to `sink` while neither
    /// this file nor (`failed_before`) anything earlier had a problem. Returns the row count.
    fn run(
        &mut self,
        log: &mut FileLog,
        mut sink: Option<(&mut ParquetSink, &Path)>,
        failed_before: bool,
    ) -> Result<u64, ImportError> {
        let src = self.src;
        let schema = src.table.arrow_schema();
        let mut on_batch = |columns: Vec<ArrayRef>, first_row: u64, log: &mut FileLog| {
            self.check(&columns, first_row, log);
            if let Some((sink, target)) = &mut sink
                && !failed_before
                && log.count() == 0
            {
                let batch = RecordBatch::try_new(schema.clone(), columns)
                    .map_err(|e| write_err(target, e))?;
                sink.write(&batch).map_err(|e| write_err(target, e))?;
            }
            Ok(())
        };
        match src.format {
            Format::Csv => read_csv(src, log, &mut on_batch),
            Format::Parquet => read_parquet(src, log, &mut on_batch),
        }
    }

    /// The checks beyond types: ids, orphans, date ranges and date order.
    fn check(&mut self, columns: &[ArrayRef], first_row: u64, log: &mut FileLog) {
        let table = self.src.table;
        let row = |i: usize| Some(first_row + i as u64);
        if let Some((what, ids)) = &mut self.collect {
            let name = format!("{what}_id");
            if let Some(j) = table.columns.iter().position(|c| c.name == name) {
                let a = columns[j].as_primitive::<Int64Type>();
                for (i, v) in a.iter().enumerate() {
                    if let Some(v) = v
                        && !ids.insert(v)
                    {
                        log.add(row(i), Some(&name), || format!("duplicate {what} id {v}"));
                    }
                }
            }
        }
        for (ids, what, cols) in [
            (self.concepts, "concept", &self.concept_columns),
            (self.persons, "person", &self.person_columns),
        ] {
            let Some(ids) = ids else { continue };
            for &j in cols {
                let a = columns[j].as_primitive::<Int64Type>();
                let mut last_found = None;
                for (i, v) in a.iter().enumerate() {
                    let Some(v) = v else { continue };
                    if (what == "concept" && v == 0) || last_found == Some(v) {
                        continue;
                    }
                    if ids.contains(v) {
                        last_found = Some(v);
                    } else {
                        log.add(row(i), Some(table.columns[j].name), || {
                            format!("{what} id {v} is not in {what}")
                        });
                    }
                }
            }
        }
        let (min, max) = (self.opts.min_date, self.opts.max_date);
        for &j in &self.date_columns {
            let a = columns[j].as_primitive::<Date32Type>();
            for (i, v) in a.iter().enumerate() {
                if let Some(v) = v
                    && !(min..=max).contains(&v)
                {
                    log.add(row(i), Some(table.columns[j].name), || {
                        format!(
                            "date {} is out of range ({} to {})",
                            dates::format(v),
                            dates::format(min),
                            dates::format(max)
                        )
                    });
                }
            }
        }
        for &(start_col, end_col) in &self.pairs {
            let start = columns[start_col].as_primitive::<Date32Type>();
            let end = columns[end_col].as_primitive::<Date32Type>();
            for (i, (s, e)) in start.iter().zip(end.iter()).enumerate() {
                if let (Some(s), Some(e)) = (s, e)
                    && e < s
                {
                    log.add(row(i), Some(table.columns[end_col].name), || {
                        format!(
                            "end date {} is before start date {} ({})",
                            dates::format(e),
                            dates::format(s),
                            table.columns[start_col].name
                        )
                    });
                }
            }
        }
    }
}

/// Receives each batch of a table's columns (in schema order) and its first data row.
type OnBatch<'b> = dyn FnMut(Vec<ArrayRef>, u64, &mut FileLog) -> Result<(), ImportError> + 'b;

/// Where each schema column is in the file (compared lowercase); missing required columns and
/// columns present twice are problems.
fn map_columns(table: &Table, names: &[String], log: &mut FileLog) -> Vec<Option<usize>> {
    table
        .columns
        .iter()
        .map(|c| {
            let mut found = names
                .iter()
                .enumerate()
                .filter(|(_, n)| n.as_str() == c.name)
                .map(|(i, _)| i);
            let first = found.next();
            if first.is_some() && found.next().is_some() {
                log.add(None, Some(c.name), || {
                    "the column appears more than once".into()
                });
            }
            if first.is_none() && !c.nullable {
                log.add(None, None, || {
                    format!("required column {} is missing", c.name)
                });
            }
            first
        })
        .collect()
}

/// The outcome of reading one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parsed {
    Null,
    Value,
    Invalid,
}

/// Logs a NULL in a required column or a value of the wrong type.
fn report(
    parsed: Parsed,
    column: &Column,
    row: u64,
    value: impl FnOnce() -> String,
    log: &mut FileLog,
) {
    match parsed {
        Parsed::Value => {}
        Parsed::Null if column.nullable => {}
        Parsed::Null => log.add(Some(row), Some(column.name), || {
            "missing value (the column is required)".into()
        }),
        Parsed::Invalid => log.add(Some(row), Some(column.name), || {
            let expected = match column.kind {
                Kind::Date => "date (YYYY-MM-DD or YYYYMMDD)",
                kind => kind.label(),
            };
            format!("expected {expected}, found \"{}\"", truncate(&value()))
        }),
    }
}

fn truncate(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

/// One column being built from text values.
enum Builder {
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
    Date(Date32Builder),
}

fn parse_int(t: &[u8]) -> Option<i64> {
    // Integral values written as decimals ("8507.0", as pandas does) are accepted.
    let digits = match t.iter().position(|&b| b == b'.') {
        Some(dot) if t[dot + 1..].iter().all(|&b| b == b'0') => &t[..dot],
        Some(_) => return None,
        None => t,
    };
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn parse_float(t: &[u8]) -> Option<f64> {
    let v: f64 = std::str::from_utf8(t).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

fn parse_date(t: &[u8]) -> Option<i32> {
    dates::parse(std::str::from_utf8(t).ok()?)
}

fn push_parsed<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(
    b: &mut datafusion::arrow::array::PrimitiveBuilder<T>,
    raw: &[u8],
    parse: fn(&[u8]) -> Option<T::Native>,
) -> Parsed {
    let t = raw.trim_ascii();
    if t.is_empty() {
        b.append_null();
        return Parsed::Null;
    }
    match parse(t) {
        Some(v) => {
            b.append_value(v);
            Parsed::Value
        }
        None => {
            b.append_null();
            Parsed::Invalid
        }
    }
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Int => Builder::Int(Int64Builder::with_capacity(BATCH)),
            Kind::Float => Builder::Float(Float64Builder::with_capacity(BATCH)),
            Kind::Text => Builder::Text(StringBuilder::with_capacity(BATCH, BATCH * 16)),
            Kind::Date => Builder::Date(Date32Builder::with_capacity(BATCH)),
        }
    }

    fn push_null(&mut self) {
        match self {
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
        }
    }

    /// Appends one text value (empty is NULL; a value that does not parse appends NULL too).
    fn push(&mut self, raw: &[u8]) -> Parsed {
        match self {
            Builder::Int(b) => push_parsed(b, raw, parse_int),
            Builder::Float(b) => push_parsed(b, raw, parse_float),
            Builder::Date(b) => push_parsed(b, raw, parse_date),
            Builder::Text(b) => {
                if raw.is_empty() {
                    b.append_null();
                    return Parsed::Null;
                }
                match std::str::from_utf8(raw) {
                    Ok(s) => {
                        b.append_value(s);
                        Parsed::Value
                    }
                    Err(_) => {
                        b.append_null();
                        Parsed::Invalid
                    }
                }
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int(b) => std::sync::Arc::new(b.finish()),
            Builder::Float(b) => std::sync::Arc::new(b.finish()),
            Builder::Text(b) => std::sync::Arc::new(b.finish()),
            Builder::Date(b) => std::sync::Arc::new(b.finish()),
        }
    }
}

/// The delimiter of a CSV file: whichever of tab, comma, semicolon and bar its header line has
/// most of (comma when none). The file is rewound.
fn sniff_delimiter(file: &mut File) -> std::io::Result<u8> {
    let mut line = Vec::new();
    BufReader::new((&*file).take(1 << 20)).read_until(b'\n', &mut line)?;
    file.rewind()?;
    let mut best = (b',', 0);
    for d in [b'\t', b',', b';', b'|'] {
        let n = line.iter().filter(|&&b| b == d).count();
        if n > best.1 {
            best = (d, n);
        }
    }
    Ok(best.0)
}

fn read_csv(
    src: &Source,
    log: &mut FileLog,
    on_batch: &mut OnBatch<'_>,
) -> Result<u64, ImportError> {
    let path = &src.path;
    let table = src.table;
    let mut file = File::open(path).map_err(io_err(path))?;
    let delimiter = sniff_delimiter(&mut file).map_err(io_err(path))?;
    // Athena's tab-delimited files do not quote: a `"` in a concept name is just a character.
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(delimiter != b'\t')
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let header = reader
        .byte_headers()
        .map_err(|e| read_err(path, e))?
        .clone();
    let names: Vec<String> = header
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_matches('"')
                .to_ascii_lowercase()
        })
        .collect();
    let map = map_columns(table, &names, log);
    let mut builders: Vec<Builder> = table.columns.iter().map(|c| Builder::new(c.kind)).collect();
    let mut record = csv::ByteRecord::new();
    let (mut rows, mut pending) = (0u64, 0usize);
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| read_err(path, e))?
    {
        rows += 1;
        pending += 1;
        if record.len() == header.len() {
            for ((column, b), k) in table.columns.iter().zip(&mut builders).zip(&map) {
                match *k {
                    Some(k) => {
                        let raw = &record[k];
                        let parsed = b.push(raw);
                        report(
                            parsed,
                            column,
                            rows,
                            || String::from_utf8_lossy(raw).into_owned(),
                            log,
                        );
                    }
                    None => b.push_null(),
                }
            }
        } else {
            log.add(Some(rows), None, || {
                format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    header.len()
                )
            });
            builders.iter_mut().for_each(Builder::push_null);
        }
        if pending == BATCH {
            let columns = builders.iter_mut().map(Builder::finish).collect();
            on_batch(columns, rows + 1 - pending as u64, log)?;
            pending = 0;
        }
    }
    if pending > 0 {
        let columns = builders.iter_mut().map(Builder::finish).collect();
        on_batch(columns, rows + 1 - pending as u64, log)?;
    }
    Ok(rows)
}

/// How a Parquet column becomes its schema type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversion {
    /// As text, parsed like a CSV value (text columns with numbers or dates, and integer dates
    /// such as 20200131).
    Parse,
    /// With Arrow's `cast`.
    Cast,
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

fn conversion(from: &DataType, kind: Kind) -> Option<Conversion> {
    if kind != Kind::Text && (is_text(from) || (kind == Kind::Date && from.is_integer())) {
        return can_cast_types(from, &DataType::Utf8).then_some(Conversion::Parse);
    }
    can_cast_types(from, &kind.arrow()).then_some(Conversion::Cast)
}

/// Converts one Parquet column, logging values that do not convert and NULLs in a required
/// column.
fn convert(
    from: &ArrayRef,
    how: Conversion,
    column: &Column,
    first_row: u64,
    log: &mut FileLog,
) -> Result<ArrayRef, datafusion::arrow::error::ArrowError> {
    let row = |i: usize| first_row + i as u64;
    match how {
        Conversion::Parse => {
            let text = cast(from, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            let mut b = Builder::new(column.kind);
            for i in 0..text.len() {
                let parsed = if text.is_null(i) {
                    b.push_null();
                    Parsed::Null
                } else {
                    b.push(text.value(i).as_bytes())
                };
                report(parsed, column, row(i), || text.value(i).to_owned(), log);
            }
            Ok(b.finish())
        }
        Conversion::Cast => {
            let to = cast(from, &column.kind.arrow())?;
            let from_nulls = from.logical_nulls();
            // A float or decimal read as an integer must be integral (`cast` truncates).
            let fractional = column.kind == Kind::Int
                && (from.data_type().is_floating()
                    || matches!(
                        from.data_type(),
                        DataType::Decimal32(..)
                            | DataType::Decimal64(..)
                            | DataType::Decimal128(..)
                            | DataType::Decimal256(..)
                    ));
            let floats = if fractional {
                Some(cast(from, &DataType::Float64)?)
            } else {
                None
            };
            let source_nulls = from.logical_null_count();
            if to.null_count() != source_nulls
                || (!column.nullable && source_nulls > 0)
                || floats.is_some()
            {
                let floats = floats.as_ref().map(|f| f.as_primitive::<Float64Type>());
                for i in 0..from.len() {
                    let parsed = if from_nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                        Parsed::Null
                    } else if to.is_null(i) || floats.is_some_and(|f| f.value(i).fract() != 0.0) {
                        Parsed::Invalid
                    } else {
                        Parsed::Value
                    };
                    report(
                        parsed,
                        column,
                        row(i),
                        || array_value_to_string(from, i).unwrap_or_default(),
                        log,
                    );
                }
            }
            Ok(to)
        }
    }
}

fn read_parquet(
    src: &Source,
    log: &mut FileLog,
    on_batch: &mut OnBatch<'_>,
) -> Result<u64, ImportError> {
    let path = &src.path;
    let table = src.table;
    let file = File::open(path).map_err(io_err(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(path, e))?;
    let file_schema = builder.schema().clone();
    let names: Vec<String> = file_schema
        .fields()
        .iter()
        .map(|f| f.name().to_ascii_lowercase())
        .collect();
    let mut map = map_columns(table, &names, log);
    let mut how = Vec::with_capacity(map.len());
    for (column, k) in table.columns.iter().zip(&mut map) {
        let Some(i) = *k else {
            how.push(None);
            continue;
        };
        let from = file_schema.field(i).data_type();
        let c = conversion(from, column.kind);
        if c.is_none() {
            log.add(None, Some(column.name), || {
                format!(
                    "has type {from}, which cannot be read as {}",
                    column.kind.label()
                )
            });
            *k = None;
        }
        how.push(c);
    }
    let mut roots: Vec<usize> = map.iter().flatten().copied().collect();
    roots.sort_unstable();
    roots.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH)
        .build()
        .map_err(|e| read_err(path, e))?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| read_err(path, e))?;
        let n = batch.num_rows();
        let first_row = rows + 1;
        let mut columns = Vec::with_capacity(table.columns.len());
        for ((column, k), c) in table.columns.iter().zip(&map).zip(&how) {
            columns.push(match (k, c) {
                (Some(i), Some(c)) => {
                    // Projected columns come back in file order.
                    let at = roots.binary_search(i).expect("projected");
                    convert(batch.column(at), *c, column, first_row, log)
                        .map_err(|e| read_err(path, e))?
                }
                _ => new_null_array(&column.kind.arrow(), n),
            });
        }
        rows += n as u64;
        on_batch(columns, first_row, log)?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    };
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::prelude::{ParquetReadOptions, SessionContext};

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        dates::days_from_civil(y, m, d)
    }

    fn opts() -> ImportOptions {
        ImportOptions {
            min_date: day(1900, 1, 1),
            max_date: day(2025, 12, 31),
            replace: false,
            max_problems_per_file: 50,
        }
    }

    fn tab(rows: &[&[&str]]) -> String {
        rows.iter().map(|r| r.join("\t") + "\n").collect()
    }

    /// An Athena-style vocabulary download: tab-delimited, upper-case file names, YYYYMMDD
    /// dates, no quoting (the synonym has a bare `"`). The procedure and observation concepts
    /// are local (2-billion range) ids.
    fn athena(dir: &Path) {
        let concept = |id: &str, name: &str, domain: &str, vocab: &str, class: &str, code: &str| {
            vec![
                id.to_owned(),
                name.to_owned(),
                domain.to_owned(),
                vocab.to_owned(),
                class.to_owned(),
                "S".to_owned(),
                code.to_owned(),
                "19700101".to_owned(),
                "20991231".to_owned(),
                String::new(),
            ]
        };
        let concepts = [
            concept(
                "201820",
                "Diabetes mellitus",
                "Condition",
                "SNOMED",
                "Clinical Finding",
                "73211009",
            ),
            concept(
                "201826",
                "Type 2 diabetes mellitus",
                "Condition",
                "SNOMED",
                "Clinical Finding",
                "44054006",
            ),
            concept("8532", "FEMALE", "Gender", "Gender", "Gender", "F"),
            concept("8507", "MALE", "Gender", "Gender", "Gender", "M"),
            concept("8527", "White", "Race", "Race", "Race", "5"),
            concept(
                "38003564",
                "Not Hispanic or Latino",
                "Ethnicity",
                "Ethnicity",
                "Ethnicity",
                "Not Hispanic",
            ),
            concept(
                "32817",
                "EHR",
                "Type Concept",
                "Type Concept",
                "Type Concept",
                "OMOP4976890",
            ),
            concept("9202", "Outpatient Visit", "Visit", "Visit", "Visit", "OP"),
            concept(
                "1503297",
                "metformin",
                "Drug",
                "RxNorm",
                "Ingredient",
                "6809",
            ),
            concept(
                "3004410",
                "Hemoglobin A1c/Hemoglobin.total in Blood",
                "Measurement",
                "LOINC",
                "Lab Test",
                "4548-4",
            ),
            concept("8554", "percent", "Unit", "UCUM", "Unit", "%"),
            concept(
                "4180186",
                "English language",
                "Language",
                "SNOMED",
                "Qualifier Value",
                "297496008",
            ),
            concept(
                "2000000001",
                "Local procedure",
                "Procedure",
                "Local",
                "Procedure",
                "P1",
            ),
            concept(
                "2000000002",
                "Local observation",
                "Observation",
                "Local",
                "Observation",
                "O1",
            ),
        ];
        let mut text = tab(&[&[
            "concept_id",
            "concept_name",
            "domain_id",
            "vocabulary_id",
            "concept_class_id",
            "standard_concept",
            "concept_code",
            "valid_start_date",
            "valid_end_date",
            "invalid_reason",
        ]]);
        for c in &concepts {
            text += &(c.join("\t") + "\n");
        }
        std::fs::write(dir.join("CONCEPT.csv"), text).unwrap();
        let files: [(&str, String); 6] = [
            (
                "CONCEPT_ANCESTOR.csv",
                tab(&[
                    &[
                        "ancestor_concept_id",
                        "descendant_concept_id",
                        "min_levels_of_separation",
                        "max_levels_of_separation",
                    ],
                    &["201820", "201826", "1", "1"],
                    &["201820", "201820", "0", "0"],
                    &["201826", "201826", "0", "0"],
                ]),
            ),
            (
                "CONCEPT_RELATIONSHIP.csv",
                tab(&[
                    &[
                        "concept_id_1",
                        "concept_id_2",
                        "relationship_id",
                        "valid_start_date",
                        "valid_end_date",
                        "invalid_reason",
                    ],
                    &["201826", "201820", "Is a", "19700101", "20991231", ""],
                    &["201820", "201826", "Subsumes", "19700101", "20991231", ""],
                ]),
            ),
            (
                "CONCEPT_SYNONYM.csv",
                tab(&[
                    &["concept_id", "concept_synonym_name", "language_concept_id"],
                    &["201826", "Type 2 diabetes mellitus \"T2DM", "4180186"],
                ]),
            ),
            (
                "VOCABULARY.csv",
                tab(&[
                    &[
                        "vocabulary_id",
                        "vocabulary_name",
                        "vocabulary_reference",
                        "vocabulary_version",
                        "vocabulary_concept_id",
                    ],
                    &[
                        "SNOMED",
                        "Systematic Nomenclature of Medicine - Clinical Terms (IHTSDO)",
                        "http://www.snomed.org/",
                        "2024-03-01 SNOMED CT International Edition",
                        "44819097",
                    ],
                    &["Local", "Local concepts", "", "", "0"],
                ]),
            ),
            (
                "DOMAIN.csv",
                tab(&[
                    &["domain_id", "domain_name", "domain_concept_id"],
                    &["Condition", "Condition", "19"],
                    &["Drug", "Drug", "13"],
                ]),
            ),
            (
                "CONCEPT_CLASS.csv",
                tab(&[
                    &[
                        "concept_class_id",
                        "concept_class_name",
                        "concept_class_concept_id",
                    ],
                    &["Clinical Finding", "Clinical Finding", "44819016"],
                ]),
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        // Athena files also hold tables Workbench does not use.
        std::fs::write(
            dir.join("DRUG_STRENGTH.csv"),
            "drug_concept_id\tingredient_concept_id\n1503297\t1503297\n",
        )
        .unwrap();
    }

    const PERSON: &str = "\
person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth,race_concept_id,ethnicity_concept_id,location_id,person_source_value,provider_id
1,8532,1960,5,12,8527,38003564,,P1,
2,8507,1975,,,0,38003564,,P2,7
3,8532,1988,1,1,8527,38003564,,\"P3, quoted\",
";

    const CONDITION: &str = "\
condition_occurrence_id,person_id,condition_concept_id,condition_start_date,condition_end_date,condition_type_concept_id,visit_occurrence_id,condition_source_value
100,1,201826,2020-03-01,,32817,10,E11.9
101,1,201826,2021-01-01,2021-02-01,32817,,E11.9
102,2,201826,20210615,,32817,11,E11
103,3,201820,2019-05-05,,32817,,
";

    const DRUG: &str = "\
drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,drug_type_concept_id,quantity,days_supply,visit_occurrence_id
200,1,1503297,2020-03-01,2020-03-31,32817,60,30,10
201,2,1503297,2021-06-15,2021-07-15,32817,,,
";

    /// The clinical tables as comma CSV (ISO dates but one YYYYMMDD, one upper-case header, one
    /// table without its optional columns, a BOM, CRLF), `measurement` as Parquet, no
    /// `device_exposure` or `death`.
    fn clinical(dir: &Path) {
        let files = [
            ("person.csv", PERSON),
            (
                "observation_period.csv",
                "observation_period_id,person_id,observation_period_start_date,observation_period_end_date,period_type_concept_id
1,1,2010-01-01,2024-12-31,32817
2,2,2011-01-01,2024-12-31,32817
3,3,2012-01-01,2024-12-31,32817
",
            ),
            (
                "visit_occurrence.csv",
                "VISIT_OCCURRENCE_ID,PERSON_ID,VISIT_CONCEPT_ID,VISIT_START_DATE,VISIT_END_DATE,VISIT_TYPE_CONCEPT_ID
10,1,9202,2020-03-01,2020-03-01,32817
11,2,9202,2021-06-15,2021-06-15,32817
",
            ),
            ("condition_occurrence.csv", CONDITION),
            ("drug_exposure.csv", DRUG),
            (
                "procedure_occurrence.csv",
                "procedure_occurrence_id,person_id,procedure_concept_id,procedure_date,procedure_type_concept_id
300,3,2000000001,2019-05-05,32817
",
            ),
            (
                "observation.csv",
                "observation_id,person_id,observation_concept_id,observation_date,observation_type_concept_id,value_as_number,value_as_string,value_as_concept_id,visit_occurrence_id,observation_source_value
500,1,2000000002,2020-03-01,32817,,yes,0,10,
",
            ),
        ];
        for (name, text) in files {
            let text = match name {
                // A byte-order mark and Windows line ends, as spreadsheet exports have.
                "observation_period.csv" => format!("\u{feff}{text}"),
                "visit_occurrence.csv" => text.replace('\n', "\r\n"),
                _ => text.to_owned(),
            };
            std::fs::write(dir.join(name), text).unwrap();
        }
        measurement(
            dir,
            Arc::new(Int64Array::from(vec![1, 2])),
            dates_of(&[day(2020, 3, 1), day(2021, 6, 15)]),
        );
    }

    fn dates_of(days: &[i32]) -> ArrayRef {
        Arc::new(Date32Array::from(days.to_vec()))
    }

    /// `measurement.parquet` with the given `person_id` and `MEASUREMENT_DATE` columns: ids as
    /// Int32, an extra column, the range columns absent.
    fn measurement(dir: &Path, person_id: ArrayRef, date: ArrayRef) {
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("measurement_id", Arc::new(Int32Array::from(vec![400, 401]))),
            ("person_id", person_id),
            (
                "measurement_concept_id",
                Arc::new(Int64Array::from(vec![3004410, 3004410])),
            ),
            ("MEASUREMENT_DATE", date),
            (
                "measurement_type_concept_id",
                Arc::new(Int64Array::from(vec![32817, 32817])),
            ),
            (
                "value_as_number",
                Arc::new(Float64Array::from(vec![7.1, 6.4])),
            ),
            (
                "unit_concept_id",
                Arc::new(Int64Array::from(vec![Some(8554), None])),
            ),
            (
                "measurement_source_value",
                Arc::new(StringArray::from(vec!["4548-4", "4548-4"])),
            ),
        ];
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch =
            RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect())
                .unwrap();
        let file = File::create(dir.join("measurement.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// A temporary directory with a valid export in `src`; the import goes to `cdr`.
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).unwrap();
        athena(&src);
        clinical(&src);
        let out = tmp.path().join("cdr");
        (tmp, src, out)
    }

    /// Replaces `from` by `to` in a source file (which must contain it).
    fn edit(src: &Path, file: &str, from: &str, to: &str) {
        let path = src.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// Neither `out` nor a staging or trash directory next to it exists.
    fn nothing_visible(out: &Path) {
        assert!(!out.exists(), "{} exists", out.display());
        let name = out.file_name().unwrap().to_str().unwrap();
        let left: Vec<_> = std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(name))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    /// Imports, expecting validation to fail before publication; returns the problems.
    fn rejected(src: &Path, out: &Path) -> Vec<Problem> {
        let mut hooked = false;
        let err = import(src, out, &opts(), &mut |_| {
            hooked = true;
            Ok(())
        })
        .unwrap_err();
        assert!(!hooked, "the hook ran for an invalid import");
        nothing_visible(out);
        match err {
            ImportError::Invalid(problems) => {
                // The error's message lists every problem.
                let message = ImportError::Invalid(problems.clone()).to_string();
                for p in &problems {
                    assert!(message.contains(&p.to_string()));
                }
                problems
            }
            e => panic!("expected validation problems, got {e}"),
        }
    }

    #[track_caller]
    fn has(problems: &[Problem], file: &str, row: Option<u64>, column: Option<&str>, reason: &str) {
        assert!(
            problems.iter().any(|p| p.file == file
                && p.row == row
                && p.column.as_deref() == column
                && p.reason.contains(reason)),
            "no {file}:{row:?}: {column:?}: …{reason}… in {problems:#?}"
        );
    }

    async fn ints(ctx: &SessionContext, sql: &str) -> Vec<i64> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.unwrap_or(-1))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_valid_export_is_imported_and_queryable() {
        let (_tmp, src, out) = setup();
        let mut staged = None;
        let report = import(&src, &out, &opts(), &mut |staging| {
            assert!(staging.join(Manifest::FILE).is_file());
            assert!(staging.join("condition_occurrence.parquet").is_file());
            assert!(!out.exists());
            staged = Some(staging.to_owned());
            Ok(())
        })
        .unwrap();
        assert_eq!(report.out, out);
        let staged = staged.expect("the hook ran");
        assert!(!staged.exists());
        let rows: Vec<(&str, u64)> = report
            .tables
            .iter()
            .map(|(t, n)| (t.as_str(), *n))
            .collect();
        assert_eq!(
            rows,
            [
                ("concept", 14),
                ("concept_ancestor", 3),
                ("concept_relationship", 2),
                ("concept_synonym", 1),
                ("vocabulary", 2),
                ("domain", 2),
                ("concept_class", 1),
                ("person", 3),
                ("observation_period", 3),
                ("visit_occurrence", 2),
                ("condition_occurrence", 4),
                ("drug_exposure", 2),
                ("procedure_occurrence", 1),
                ("measurement", 2),
                ("observation", 1),
            ]
        );
        // Exactly the schema's columns, and only the tables that were there.
        for t in schema::TABLES {
            let path = out.join(format!("{}.parquet", t.name));
            if !report.tables.iter().any(|(n, _)| n == t.name) {
                assert!(!path.exists(), "{}", t.name);
                continue;
            }
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
            assert_eq!(
                reader.schema().fields(),
                t.arrow_schema().fields(),
                "{}",
                t.name
            );
        }
        let manifest = Manifest::read(&out).unwrap();
        assert_eq!(manifest.kind, "import");
        assert_eq!(manifest.persons, 3);
        assert_eq!(manifest.tables.len(), report.tables.len());
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(Manifest::FILE)).unwrap())
                .unwrap();
        assert_eq!(
            raw["source"],
            src.canonicalize().unwrap().display().to_string()
        );
        assert_eq!(raw["max_date"], "2025-12-31");

        let ctx = SessionContext::new();
        for (t, _) in &report.tables {
            let path = out.join(format!("{t}.parquet"));
            ctx.register_parquet(t, path.to_str().unwrap(), ParquetReadOptions::default())
                .await
                .unwrap();
        }
        assert_eq!(
            ints(
                &ctx,
                "SELECT COUNT(DISTINCT person_id) FROM condition_occurrence \
                 WHERE condition_concept_id = 201826"
            )
            .await,
            [2]
        );
        // Athena's YYYYMMDD and ISO dates read alike.
        assert_eq!(
            ints(
                &ctx,
                "SELECT condition_occurrence_id FROM condition_occurrence \
                 WHERE condition_start_date = DATE '2021-06-15'"
            )
            .await,
            [102]
        );
        // Descendants of diabetes mellitus through the hierarchy, joined to the Parquet input.
        assert_eq!(
            ints(
                &ctx,
                "SELECT COUNT(DISTINCT m.person_id) FROM measurement m \
                 JOIN condition_occurrence c ON c.person_id = m.person_id \
                 JOIN concept_ancestor a ON a.descendant_concept_id = c.condition_concept_id \
                 WHERE a.ancestor_concept_id = 201820 AND m.unit_concept_id = 8554"
            )
            .await,
            [1]
        );
        // Absent optional columns are NULL; empty fields are NULL; quotes survive.
        assert_eq!(
            ints(
                &ctx,
                "SELECT COUNT(*) FROM measurement WHERE range_low IS NULL AND range_high IS NULL"
            )
            .await,
            [2]
        );
        assert_eq!(
            ints(
                &ctx,
                "SELECT COUNT(*) FROM person WHERE month_of_birth IS NULL OR location_id IS NULL"
            )
            .await,
            [3]
        );
        assert_eq!(
            ints(
                &ctx,
                "SELECT person_id FROM person WHERE person_source_value = 'P3, quoted'"
            )
            .await,
            [3]
        );
        assert_eq!(
            ints(
                &ctx,
                "SELECT concept_id FROM concept_synonym \
                 WHERE concept_synonym_name = 'Type 2 diabetes mellitus \"T2DM'"
            )
            .await,
            [201826]
        );
        assert_eq!(
            ints(
                &ctx,
                "SELECT COUNT(*) FROM concept WHERE invalid_reason IS NULL AND standard_concept = 'S'"
            )
            .await,
            [14]
        );
    }

    #[test]
    fn a_missing_required_table_is_rejected() {
        let (_tmp, src, out) = setup();
        std::fs::remove_file(src.join("procedure_occurrence.csv")).unwrap();
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "procedure_occurrence.csv, PROCEDURE_OCCURRENCE.csv or procedure_occurrence.parquet",
            None,
            None,
            "required table missing",
        );
    }

    #[test]
    fn a_missing_vocabulary_stops_before_the_other_tables() {
        let (_tmp, src, out) = setup();
        std::fs::remove_file(src.join("CONCEPT.csv")).unwrap();
        // Would be an orphan if anything were checked against the (missing) vocabulary.
        edit(&src, "drug_exposure.csv", "200,1,", "200,42,");
        let problems = rejected(&src, &out);
        assert_eq!(
            problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["concept.csv, CONCEPT.csv or concept.parquet: required table missing"]
        );
    }

    #[test]
    fn a_missing_column_is_rejected() {
        let (_tmp, src, out) = setup();
        let text: String = CONDITION
            .lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(',').collect();
                f.remove(2);
                f.join(",") + "\n"
            })
            .collect();
        std::fs::write(src.join("condition_occurrence.csv"), text).unwrap();
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "condition_occurrence.csv",
            None,
            None,
            "required column condition_concept_id is missing",
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_rejected() {
        let (_tmp, src, out) = setup();
        edit(&src, "person.csv", "\n2,8507,", "\nabc,8507,");
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "person.csv",
            Some(2),
            Some("person_id"),
            "expected integer, found \"abc\"",
        );
        assert_eq!(
            problems[0].to_string(),
            "person.csv:row 2: person_id: expected integer, found \"abc\""
        );
    }

    #[test]
    fn an_impossible_date_is_rejected() {
        let (_tmp, src, out) = setup();
        edit(&src, "condition_occurrence.csv", "20210615", "2021-13-45");
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "condition_occurrence.csv",
            Some(3),
            Some("condition_start_date"),
            "expected date (YYYY-MM-DD or YYYYMMDD), found \"2021-13-45\"",
        );
    }

    #[test]
    fn a_null_in_a_required_column_and_a_short_row_are_rejected() {
        let (_tmp, src, out) = setup();
        edit(&src, "drug_exposure.csv", "\n201,2,1503297,", "\n201,2,,");
        edit(&src, "observation.csv", "32817,,yes,0,10,", "32817,,yes");
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        has(
            &problems,
            "drug_exposure.csv",
            Some(2),
            Some("drug_concept_id"),
            "missing value",
        );
        has(
            &problems,
            "observation.csv",
            Some(1),
            None,
            "has 7 fields, the header has 10",
        );
    }

    #[test]
    fn long_values_are_truncated_in_messages() {
        let (_tmp, src, out) = setup();
        let long = "x".repeat(100);
        edit(
            &src,
            "person.csv",
            "\n1,8532,1960,",
            &format!("\n1,8532,{long},"),
        );
        let problems = rejected(&src, &out);
        has(
            &problems,
            "person.csv",
            Some(1),
            Some("year_of_birth"),
            &format!("found \"{}…\"", "x".repeat(40)),
        );
    }

    #[test]
    fn an_orphan_concept_id_is_rejected() {
        let (_tmp, src, out) = setup();
        edit(
            &src,
            "condition_occurrence.csv",
            "103,3,201820,",
            "103,3,999999,",
        );
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "condition_occurrence.csv",
            Some(4),
            Some("condition_concept_id"),
            "concept id 999999 is not in concept",
        );
    }

    #[test]
    fn an_orphan_concept_id_in_the_vocabulary_or_person_stops_early() {
        let (_tmp, src, out) = setup();
        edit(&src, "person.csv", "\n3,8532,", "\n3,8533,");
        // Not reported: person is broken, so the clinical tables are not checked.
        edit(&src, "drug_exposure.csv", "200,1,", "200,42,");
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "person.csv",
            Some(3),
            Some("gender_concept_id"),
            "concept id 8533 is not in concept",
        );
    }

    #[test]
    fn an_orphan_person_id_is_rejected() {
        let (_tmp, src, out) = setup();
        edit(&src, "drug_exposure.csv", "201,2,", "201,42,");
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "drug_exposure.csv",
            Some(2),
            Some("person_id"),
            "person id 42 is not in person",
        );
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let (_tmp, src, out) = setup();
        edit(&src, "person.csv", "\n3,8532,", "\n2,8532,");
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "person.csv",
            Some(3),
            Some("person_id"),
            "duplicate person id 2",
        );
    }

    #[test]
    fn dates_out_of_range_are_rejected() {
        let (_tmp, src, out) = setup();
        edit(
            &src,
            "visit_occurrence.csv",
            "9202,2021-06-15,",
            "9202,1850-06-15,",
        );
        edit(&src, "observation.csv", "2020-03-01", "2999-01-01");
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        has(
            &problems,
            "visit_occurrence.csv",
            Some(2),
            Some("visit_start_date"),
            "date 1850-06-15 is out of range (1900-01-01 to 2025-12-31)",
        );
        has(
            &problems,
            "observation.csv",
            Some(1),
            Some("observation_date"),
            "date 2999-01-01 is out of range (1900-01-01 to 2025-12-31)",
        );
    }

    #[test]
    fn an_end_before_its_start_is_rejected() {
        let (_tmp, src, out) = setup();
        edit(&src, "drug_exposure.csv", "2020-03-31", "2020-02-01");
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "drug_exposure.csv",
            Some(1),
            Some("drug_exposure_end_date"),
            "end date 2020-02-01 is before start date 2020-03-01",
        );
    }

    #[test]
    fn wrong_values_in_parquet_are_rejected() {
        let (_tmp, src, out) = setup();
        // A fractional person id (a cast would truncate it) and a date that is not one.
        measurement(
            &src,
            Arc::new(Float64Array::from(vec![1.0, 2.5])),
            Arc::new(StringArray::from(vec!["2021-02-30", "2021-06-15"])),
        );
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        has(
            &problems,
            "measurement.parquet",
            Some(2),
            Some("person_id"),
            "expected integer, found \"2.5\"",
        );
        has(
            &problems,
            "measurement.parquet",
            Some(1),
            Some("measurement_date"),
            "expected date (YYYY-MM-DD or YYYYMMDD), found \"2021-02-30\"",
        );
    }

    #[test]
    fn a_parquet_column_of_an_unreadable_type_is_rejected() {
        let (_tmp, src, out) = setup();
        measurement(
            &src,
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(BooleanArray::from(vec![true, false])),
        );
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        has(
            &problems,
            "measurement.parquet",
            None,
            Some("measurement_date"),
            "has type Boolean, which cannot be read as date",
        );
    }

    #[test]
    fn two_files_for_one_table_are_rejected() {
        let (_tmp, src, out) = setup();
        std::fs::write(src.join("DRUG_EXPOSURE.CSV"), DRUG).unwrap();
        let problems = rejected(&src, &out);
        has(
            &problems,
            "DRUG_EXPOSURE.CSV, drug_exposure.csv",
            None,
            None,
            "several files hold table drug_exposure",
        );
    }

    #[test]
    fn problems_beyond_the_cap_are_counted() {
        let (_tmp, src, out) = setup();
        let mut text = CONDITION.to_owned();
        for i in 0..60 {
            text += &format!("{},1,999999,2020-01-01,,32817,,\n", 1000 + i);
        }
        std::fs::write(src.join("condition_occurrence.csv"), text).unwrap();
        let problems = rejected(&src, &out);
        assert_eq!(problems.len(), 51, "{problems:#?}");
        has(
            &problems,
            "condition_occurrence.csv",
            Some(5),
            Some("condition_concept_id"),
            "concept id 999999 is not in concept",
        );
        has(
            &problems,
            "condition_occurrence.csv",
            None,
            None,
            "and 10 more problems in this file",
        );
    }

    #[test]
    fn a_failing_publish_hook_leaves_nothing() {
        let (_tmp, src, out) = setup();
        let err = import(&src, &out, &opts(), &mut |staging| {
            assert!(staging.join("person.parquet").is_file());
            Err("index failed".into())
        })
        .unwrap_err();
        assert!(
            matches!(&err, ImportError::Publish(m) if m == "index failed"),
            "{err}"
        );
        nothing_visible(&out);
    }

    #[test]
    fn an_existing_output_is_only_replaced_when_asked() {
        let (_tmp, src, out) = setup();
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("old.txt"), "old").unwrap();
        let err = import(&src, &out, &opts(), &mut |_| Ok(())).unwrap_err();
        assert!(matches!(&err, ImportError::Exists(p) if p == &out), "{err}");
        assert!(out.join("old.txt").is_file());

        // A failed replacement leaves the old one in place.
        let replace = ImportOptions {
            replace: true,
            ..opts()
        };
        let err = import(&src, &out, &replace, &mut |_| Err("no".into())).unwrap_err();
        assert!(matches!(err, ImportError::Publish(_)));
        assert!(out.join("old.txt").is_file());

        let report = import(&src, &out, &replace, &mut |_| Ok(())).unwrap();
        assert_eq!(report.out, out);
        assert!(!out.join("old.txt").exists());
        assert!(out.join("concept.parquet").is_file());
        let siblings: Vec<_> = std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("cdr"))
            .collect();
        assert_eq!(siblings, ["cdr"]);
    }

    #[test]
    fn values_parse_as_exports_write_them() {
        assert_eq!(parse_int(b"8507"), Some(8507));
        assert_eq!(parse_int(b"8507.0"), Some(8507));
        assert_eq!(parse_int(b"-3"), Some(-3));
        assert_eq!(parse_int(b"8507.5"), None);
        assert_eq!(parse_int(b"abc"), None);
        assert_eq!(parse_float(b"6.4"), Some(6.4));
        assert_eq!(parse_float(b"NaN"), None);
        assert_eq!(parse_date(b"20200131"), Some(day(2020, 1, 31)));
        assert_eq!(parse_date(b"2020-01-31"), Some(day(2020, 1, 31)));
        assert_eq!(truncate("short"), "short");
        let mut b = Builder::new(Kind::Int);
        assert_eq!(b.push(b" 12 "), Parsed::Value);
        assert_eq!(b.push(b""), Parsed::Null);
        assert_eq!(b.push(b"x"), Parsed::Invalid);
        assert_eq!(b.finish().null_count(), 2);
        let p = Problem {
            file: "CONCEPT.csv".into(),
            row: None,
            column: None,
            reason: "required table missing".into(),
        };
        assert_eq!(p.to_string(), "CONCEPT.csv: required table missing");
    }
}
