//! The sorted events as raw columns: `index/events/`, one little-endian file per column, in the
//! row order of `index/events_by_concept.parquet` (concept, person, date), so the index's
//! per-concept row ranges address both.
//!
//! The cohort engine's event path (modifiers, value ranges, mentions, temporal relations) reads
//! a concept's range of just the columns it needs with positional reads: nothing to decode, no
//! sort for one concept (its rows are already by person and date), and no memory held between
//! definitions beyond the operating system's page cache, which keeps the hot concepts' pages (and
//! is not the server's resident memory). Persons are stored as their bit in the index's dense
//! person index, visit and value concepts through small dictionaries.
//!
//! | file | type | value |
//! |---|---|---|
//! | `person.u32` | u32 | the person's bit ([`NO_PERSON`]: not in the person table) |
//! | `date.i32` | i32 | the event date, days since 1970-01-01 |
//! | `value.f64` | f64 | `value_as_number` ([`NO_VALUE`]'s bits: empty) |
//! | `value_concept.u32` | u32 | `value_as_concept_id`, an index into `value_concepts` ([`NONE`]: empty) |
//! | `visit.i64` | i64 | `visit_occurrence_id` (`i64::MIN`: empty) |
//! | `visit_concept.u32` | u32 | the visit's concept, an index into `visit_concepts` ([`NONE`]: empty) |
//! | `source.u8` | u8 | the event table's position in [`crate::schema::EVENT_TABLES`], or [`crate::sorted::ANSWER_SOURCE`] |
//!
//! `columns.json` holds the row count and the two dictionaries. The directory is written next to
//! the Parquet file by [`crate::sorted::write`] and renamed into place when complete.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::CdrError;
use crate::parquet_in::read_err;

/// The directory's name under `index/`.
pub const DIR: &str = "events";

/// A person id that is not in the person table.
pub const NO_PERSON: u32 = u32::MAX;

/// An empty dictionary entry.
pub const NONE: u32 = u32::MAX;

/// The bits of an empty `value_as_number` (a NaN no arithmetic produces, so a stored NaN stays
/// a value).
pub const NO_VALUE: u64 = 0x7ff8_dead_0000_0001;

const FORMAT: &str = "workbench-events/1";

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: String,
    rows: u64,
    value_concepts: Vec<i64>,
    visit_concepts: Vec<i64>,
}

/// A value that is stored little-endian in a column file.
pub trait Le: Copy + Default + bytemuck::Pod {
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    /// This value's bytes as read from a file, in the machine's order.
    fn le_to_native(self) -> Self;
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn le_to_native(self) -> Self {
                <$t>::from_le_bytes(self.to_ne_bytes())
            }
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
le!(u8, u32, i32, i64, f64);

/// The columns of the sorted events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Person,
    Date,
    Value,
    ValueConcept,
    Visit,
    VisitConcept,
    Source,
}

impl Col {
    const ALL: [Col; 7] = [
        Col::Person,
        Col::Date,
        Col::Value,
        Col::ValueConcept,
        Col::Visit,
        Col::VisitConcept,
        Col::Source,
    ];

    fn file(self) -> &'static str {
        match self {
            Col::Person => "person.u32",
            Col::Date => "date.i32",
            Col::Value => "value.f64",
            Col::ValueConcept => "value_concept.u32",
            Col::Visit => "visit.i64",
            Col::VisitConcept => "visit_concept.u32",
            Col::Source => "source.u8",
        }
    }
}

/// One event row as the writer takes it.
#[derive(Debug, Clone, Copy)]
pub struct EventRow {
    pub person: u32,
    pub date: i32,
    pub value: Option<f64>,
    pub value_concept: Option<i64>,
    pub visit: Option<i64>,
    pub visit_concept: Option<i64>,
    pub source: u8,
}

/// Writes the column files (into a temporary directory until [`Writer::finish`]).
pub struct Writer {
    tmp: PathBuf,
    dir: PathBuf,
    files: Vec<BufWriter<File>>,
    buf: Vec<u8>,
    rows: u64,
    value_concepts: Dict,
    visit_concepts: Dict,
}

#[derive(Default)]
struct Dict {
    ids: Vec<i64>,
    index: HashMap<i64, u32>,
}

impl Dict {
    fn code(&mut self, id: Option<i64>) -> u32 {
        let Some(id) = id else { return NONE };
        *self.index.entry(id).or_insert_with(|| {
            self.ids.push(id);
            (self.ids.len() - 1) as u32
        })
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CdrError + '_ {
    move |source| CdrError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Writer {
    /// Starts `index_dir/events/` (written as `events.tmp/`).
    pub fn create(index_dir: &Path) -> Result<Writer, CdrError> {
        let dir = index_dir.join(DIR);
        let tmp = index_dir.join(format!("{DIR}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let mut files = Vec::new();
        for c in Col::ALL {
            let p = tmp.join(c.file());
            files.push(BufWriter::with_capacity(
                1 << 20,
                File::create(&p).map_err(io(&p))?,
            ));
        }
        Ok(Writer {
            tmp,
            dir,
            files,
            buf: Vec::with_capacity(1 << 16),
            rows: 0,
            value_concepts: Dict::default(),
            visit_concepts: Dict::default(),
        })
    }

    /// Appends rows, in the sorted file's order.
    pub fn push(&mut self, rows: &[EventRow]) -> Result<(), CdrError> {
        for (k, c) in Col::ALL.into_iter().enumerate() {
            self.buf.clear();
            for r in rows {
                match c {
                    Col::Person => r.person.put(&mut self.buf),
                    Col::Date => r.date.put(&mut self.buf),
                    Col::Value => r
                        .value
                        .unwrap_or(f64::from_bits(NO_VALUE))
                        .put(&mut self.buf),
                    Col::ValueConcept => {
                        self.value_concepts.code(r.value_concept).put(&mut self.buf)
                    }
                    Col::Visit => r.visit.unwrap_or(i64::MIN).put(&mut self.buf),
                    Col::VisitConcept => {
                        self.visit_concepts.code(r.visit_concept).put(&mut self.buf)
                    }
                    Col::Source => r.source.put(&mut self.buf),
                }
            }
            let p = self.tmp.join(c.file());
            self.files[k].write_all(&self.buf).map_err(io(&p))?;
        }
        self.rows += rows.len() as u64;
        Ok(())
    }

    /// Flushes, writes `columns.json` and renames the directory into place; returns the bytes
    /// written.
    pub fn finish(self) -> Result<u64, CdrError> {
        let mut bytes = 0;
        for (c, f) in Col::ALL.into_iter().zip(self.files) {
            let p = self.tmp.join(c.file());
            let f = f.into_inner().map_err(|e| io(&p)(e.into_error()))?;
            f.sync_all().map_err(io(&p))?;
            bytes += f.metadata().map_err(io(&p))?.len();
        }
        let meta = Meta {
            format: FORMAT.into(),
            rows: self.rows,
            value_concepts: self.value_concepts.ids,
            visit_concepts: self.visit_concepts.ids,
        };
        let p = self.tmp.join("columns.json");
        let text = serde_json::to_vec(&meta).expect("serialisable");
        std::fs::write(&p, &text).map_err(io(&p))?;
        bytes += text.len() as u64;
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(io(&self.dir))?;
        }
        std::fs::rename(&self.tmp, &self.dir).map_err(io(&self.dir))?;
        Ok(bytes)
    }
}

/// The column files, open for positional reads (shared by every request).
#[derive(Debug)]
pub struct Columns {
    dir: PathBuf,
    rows: u64,
    files: Vec<File>,
    value_concepts: Vec<i64>,
    visit_concepts: Vec<i64>,
}

impl Columns {
    /// Opens `index_dir/events/`; `None` when it was never written.
    pub fn open(index_dir: &Path) -> Result<Option<Columns>, CdrError> {
        let dir = index_dir.join(DIR);
        let meta_path = dir.join("columns.json");
        if !meta_path.exists() {
            return Ok(None);
        }
        let text = std::fs::read(&meta_path).map_err(|e| read_err(&meta_path, e))?;
        let meta: Meta = serde_json::from_slice(&text).map_err(|e| read_err(&meta_path, e))?;
        if meta.format != FORMAT {
            return Err(read_err(
                &meta_path,
                format!("is {}, not {FORMAT}: rebuild the index", meta.format),
            ));
        }
        let mut files = Vec::new();
        for c in Col::ALL {
            let p = dir.join(c.file());
            let f = File::open(&p).map_err(|e| read_err(&p, e))?;
            let len = f.metadata().map_err(|e| read_err(&p, e))?.len();
            let size = match c {
                Col::Source => 1,
                Col::Value | Col::Visit => 8,
                _ => 4,
            };
            if len != meta.rows * size {
                return Err(read_err(
                    &p,
                    format!(
                        "holds {len} bytes, not {} rows: rebuild the index",
                        meta.rows
                    ),
                ));
            }
            files.push(f);
        }
        Ok(Some(Columns {
            dir,
            rows: meta.rows,
            files,
            value_concepts: meta.value_concepts,
            visit_concepts: meta.visit_concepts,
        }))
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows `start..start + len` of a column, appended to `out`.
    pub fn read<T: Le>(
        &self,
        col: Col,
        start: u64,
        len: u64,
        out: &mut Vec<T>,
    ) -> Result<(), CdrError> {
        let path = || self.dir.join(col.file());
        if start + len > self.rows {
            return Err(read_err(&path(), "a row range beyond the file"));
        }
        // Straight into `out`'s memory (then put in the machine's order: nothing to do on a
        // little-endian machine).
        let at = out.len();
        out.resize(at + len as usize, T::default());
        read_at(
            &self.files[col as usize],
            bytemuck::cast_slice_mut(&mut out[at..]),
            start * T::SIZE as u64,
        )
        .map_err(|e| read_err(&path(), e))?;
        if cfg!(target_endian = "big") {
            for x in &mut out[at..] {
                *x = x.le_to_native();
            }
        }
        Ok(())
    }

    /// The concept of a `value_concept.u32` or `visit_concept.u32` code.
    pub fn value_concept(&self, code: u32) -> Option<i64> {
        self.value_concepts.get(code as usize).copied()
    }

    pub fn visit_concept(&self, code: u32) -> Option<i64> {
        self.visit_concepts.get(code as usize).copied()
    }

    /// The codes of these value concepts (those that occur).
    pub fn value_codes(&self, ids: &[i64]) -> Vec<u32> {
        codes(&self.value_concepts, ids)
    }

    /// The codes of these visit concepts (those that occur).
    pub fn visit_codes(&self, ids: &[i64]) -> Vec<u32> {
        codes(&self.visit_concepts, ids)
    }
}

fn codes(dict: &[i64], ids: &[i64]) -> Vec<u32> {
    let mut out: Vec<u32> = dict
        .iter()
        .enumerate()
        .filter(|(_, c)| ids.contains(c))
        .map(|(k, _)| k as u32)
        .collect();
    out.sort_unstable();
    out
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(f, buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip_with_empties_and_dictionaries() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = Writer::create(tmp.path()).unwrap();
        let rows: Vec<EventRow> = (0..1000u32)
            .map(|i| EventRow {
                person: if i % 97 == 0 { NO_PERSON } else { i / 3 },
                date: -5 + i as i32,
                value: (i % 4 != 0).then_some(f64::from(i) / 8.0),
                value_concept: (i % 5 == 0).then_some(4_000_000_000 + i64::from(i % 3)),
                visit: (i % 2 == 0).then_some(i64::from(i) << 40),
                visit_concept: (i % 2 == 0).then_some(9202 + i64::from(i % 3)),
                source: (i % 7) as u8,
            })
            .collect();
        w.push(&rows[..300]).unwrap();
        w.push(&rows[300..]).unwrap();
        w.finish().unwrap();
        let c = Columns::open(tmp.path()).unwrap().unwrap();
        assert_eq!(c.rows(), 1000);
        let (mut p, mut d, mut v, mut vc, mut vi, mut vk, mut s) = (
            Vec::<u32>::new(),
            Vec::<i32>::new(),
            Vec::<f64>::new(),
            Vec::<u32>::new(),
            Vec::<i64>::new(),
            Vec::<u32>::new(),
            Vec::<u8>::new(),
        );
        c.read(Col::Person, 10, 500, &mut p).unwrap();
        c.read(Col::Date, 10, 500, &mut d).unwrap();
        c.read(Col::Value, 10, 500, &mut v).unwrap();
        c.read(Col::ValueConcept, 10, 500, &mut vc).unwrap();
        c.read(Col::Visit, 10, 500, &mut vi).unwrap();
        c.read(Col::VisitConcept, 10, 500, &mut vk).unwrap();
        c.read(Col::Source, 10, 500, &mut s).unwrap();
        for (k, r) in rows[10..510].iter().enumerate() {
            assert_eq!(p[k], r.person);
            assert_eq!(d[k], r.date);
            assert_eq!(
                Some(v[k]).filter(|x| x.to_bits() != NO_VALUE),
                r.value,
                "row {k}"
            );
            assert_eq!(c.value_concept(vc[k]), r.value_concept);
            assert_eq!(Some(vi[k]).filter(|x| *x != i64::MIN), r.visit);
            assert_eq!(c.visit_concept(vk[k]), r.visit_concept);
            assert_eq!(s[k], r.source);
        }
        assert!(c.read(Col::Person, 900, 101, &mut p).is_err());
        assert_eq!(c.visit_codes(&[9203]).len(), 1);
        assert_eq!(c.value_codes(&[1]).len(), 0);
        // A truncated file is refused, not misread.
        let f = tmp.path().join(DIR).join("date.i32");
        let bytes = std::fs::read(&f).unwrap();
        std::fs::write(&f, &bytes[..bytes.len() - 4]).unwrap();
        assert!(Columns::open(tmp.path()).is_err());
    }
}
