//! The CDR's person index: built once from the Parquet tables (generated or imported), persisted
//! next to them as `index/concepts.idx`, and loaded at start.
//!
//! - A dense person index: `person_id`s sorted, a person's position is its bit.
//! - Per concept, a roaring bitmap of the persons with at least one event of it (any event
//!   table's concept column, and survey answers from `observation.value_as_concept_id`), with
//!   its event count; the person table's gender, race and ethnicity concepts are bitmaps too,
//!   so demographic criteria combine with the others by AND / OR / AND NOT.
//! - Hierarchy rollups from `concept_ancestor`: every concept's rollup person count (persons
//!   with the concept or any descendant), and the rollup bitmap itself for concepts with many
//!   occurring descendants; smaller rollups are a multi-way union of their few descendants at
//!   query time (performance.md §3.3, §6(d)).
//! - Each concept's row range in `index/events_by_concept.parquet`, the events sorted by
//!   concept for event-level criteria ([`crate::sorted`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use roaring::{MultiOps, RoaringBitmap};

use crate::CdrError;
use crate::parquet_in::read_err;
use crate::schema::{self, Table};

/// Rollup bitmaps are stored for concepts with more occurring descendants than this.
pub const MATERIALISE_ABOVE: usize = 16;

/// Format 4: the sorted events are also raw columns ([`crate::columns`]).
const MAGIC: &[u8; 8] = b"WBIDX004";

/// The person table's columns the index reads: the id and the demographic concepts.
pub const PERSON_COLUMNS: [&str; 4] = [
    "person_id",
    "gender_concept_id",
    "race_concept_id",
    "ethnicity_concept_id",
];

/// One concept's entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConceptEntry {
    /// Persons with an event of exactly this concept.
    pub persons: RoaringBitmap,
    /// Events of exactly this concept.
    pub events: u64,
    /// Persons with this concept or a descendant.
    pub rollup_persons: u64,
    /// The rollup bitmap, when materialised.
    pub rollup: Option<RoaringBitmap>,
    /// Descendants (self excluded) that occur in the data, when the rollup is not materialised.
    pub descendants: Vec<i64>,
}

/// The loaded index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Index {
    /// Sorted `person_id`s: the dense person index.
    pub person_ids: Vec<i64>,
    pub concepts: HashMap<i64, ConceptEntry>,
    /// Each concept's `(first row, rows)` in `index/events_by_concept.parquet` (see
    /// [`crate::sorted`]); empty until [`Index::build_and_save`] has written that file.
    pub event_rows: HashMap<i64, (u64, u64)>,
}

/// What building took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildStats {
    pub persons: u64,
    pub events: u64,
    pub concepts: usize,
    pub pairs: u64,
    pub materialised: usize,
    pub bytes: u64,
    pub seconds: f64,
}

/// Streams the named Int64 columns of a Parquet file, `f(columns)` per batch.
fn scan_ints(
    path: &Path,
    columns: &[&str],
    mut f: impl FnMut(&[&PrimitiveArray<Int64Type>]),
) -> Result<(), CdrError> {
    let wanted: Vec<(&str, DataType)> = columns.iter().map(|c| (*c, DataType::Int64)).collect();
    crate::parquet_in::scan(path, &wanted, |cols| {
        let ints: Vec<_> = cols.iter().map(|c| c.as_primitive::<Int64Type>()).collect();
        f(&ints);
        Ok(())
    })
}

/// Per-concept bitmaps and event counts of one event table.
fn scan_table(
    dir: &Path,
    table: &Table,
    person_ids: &[i64],
) -> Result<HashMap<i64, (RoaringBitmap, u64)>, CdrError> {
    let path = dir.join(format!("{}.parquet", table.name));
    let mut out: HashMap<i64, (RoaringBitmap, u64)> = HashMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let concept = table.event_concept.expect("event table");
    let mut columns = vec!["person_id", concept];
    if let Some(v) = table.value_concept {
        columns.push(v);
    }
    let mut last: (i64, u32) = (i64::MIN, 0);
    let mut missing: Option<i64> = None;
    scan_ints(&path, &columns, |cols| {
        let persons = cols[0];
        for row in 0..persons.len() {
            let pid = persons.value(row);
            let bit = if pid == last.0 {
                last.1
            } else {
                match person_ids.binary_search(&pid) {
                    Ok(i) => {
                        last = (pid, i as u32);
                        i as u32
                    }
                    Err(_) => {
                        missing.get_or_insert(pid);
                        continue;
                    }
                }
            };
            for col in &cols[1..] {
                if col.is_valid(row) {
                    let c = col.value(row);
                    if c != 0 {
                        let e = out.entry(c).or_default();
                        e.0.insert(bit);
                        e.1 += 1;
                    }
                }
            }
        }
    })?;
    if let Some(pid) = missing {
        return Err(CdrError::Invalid(format!(
            "{}: person id {pid} is not in person",
            path.display()
        )));
    }
    Ok(out)
}

impl Index {
    /// Builds the index from the Parquet tables in `dir`.
    pub fn build(dir: &Path) -> Result<(Index, BuildStats), CdrError> {
        let started = Instant::now();
        // Persons, and their demographic concepts (gender, race, ethnicity) as bitmaps too.
        let mut people: Vec<[i64; 4]> = Vec::new();
        scan_ints(&dir.join("person.parquet"), &PERSON_COLUMNS, |cols| {
            for row in 0..cols[0].len() {
                let v = |c: usize| {
                    if cols[c].is_valid(row) {
                        cols[c].value(row)
                    } else {
                        0
                    }
                };
                people.push([v(0), v(1), v(2), v(3)]);
            }
        })?;
        people.sort_unstable_by_key(|p| p[0]);
        people.dedup_by_key(|p| p[0]);
        if people.len() > u32::MAX as usize {
            return Err(CdrError::Invalid("more than 2^32 persons".into()));
        }
        let person_ids: Vec<i64> = people.iter().map(|p| p[0]).collect();
        let mut demographics: HashMap<i64, (RoaringBitmap, u64)> = HashMap::new();
        for (bit, p) in people.iter().enumerate() {
            for c in &p[1..] {
                if *c != 0 {
                    let e = demographics.entry(*c).or_default();
                    e.0.insert(bit as u32);
                    e.1 += 1;
                }
            }
        }
        drop(people);
        // Event tables in parallel (two at a time on two cores is plenty).
        let tables: Vec<&Table> = schema::EVENT_TABLES.iter().collect();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let Some(t) = tables.get(i) else { break };
                            mine.push(scan_table(dir, t, &person_ids));
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("index worker panicked"))
                .collect::<Vec<_>>()
        });
        let mut concepts: HashMap<i64, ConceptEntry> = HashMap::new();
        for (c, (bitmap, n)) in demographics {
            let e = concepts.entry(c).or_default();
            e.persons = bitmap;
            e.events = n;
        }
        let mut events = 0u64;
        for r in results {
            for (c, (bitmap, n)) in r? {
                events += n;
                let e = concepts.entry(c).or_default();
                e.persons |= bitmap;
                e.events += n;
            }
        }
        // Rollups: ancestor -> occurring descendants (self excluded).
        let mut below: HashMap<i64, Vec<i64>> = HashMap::new();
        let ancestors = dir.join("concept_ancestor.parquet");
        scan_ints(
            &ancestors,
            &["ancestor_concept_id", "descendant_concept_id"],
            |cols| {
                let (a, d) = (cols[0], cols[1]);
                for row in 0..a.len() {
                    let (a, d) = (a.value(row), d.value(row));
                    if a != d && concepts.contains_key(&d) {
                        below.entry(a).or_default().push(d);
                    }
                }
            },
        )?;
        let mut materialised = 0;
        let mut rollups: Vec<(i64, u64, Option<RoaringBitmap>, Vec<i64>)> = Vec::new();
        for (a, mut ds) in below {
            ds.sort_unstable();
            ds.dedup();
            let own = concepts.get(&a).map(|e| &e.persons);
            let union = own
                .into_iter()
                .chain(ds.iter().map(|d| &concepts[d].persons))
                .union();
            let n = union.len();
            if ds.len() > MATERIALISE_ABOVE {
                materialised += 1;
                rollups.push((a, n, Some(union), Vec::new()));
            } else {
                rollups.push((a, n, None, ds));
            }
        }
        for e in concepts.values_mut() {
            e.rollup_persons = e.persons.len();
        }
        for (a, n, rollup, ds) in rollups {
            let e = concepts.entry(a).or_default();
            e.rollup_persons = n;
            e.rollup = rollup;
            e.descendants = ds;
        }
        let pairs = concepts.values().map(|e| e.persons.len()).sum();
        let index = Index {
            person_ids,
            concepts,
            event_rows: HashMap::new(),
        };
        let stats = BuildStats {
            persons: index.person_ids.len() as u64,
            events,
            concepts: index.concepts.len(),
            pairs,
            materialised,
            bytes: 0,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok((index, stats))
    }

    /// Builds the index for the CDR in `dir`, writes the events sorted by concept, and saves
    /// both under `dir/index/`.
    pub fn build_and_save(dir: &Path) -> Result<BuildStats, CdrError> {
        let started = Instant::now();
        let (mut index, mut stats) = Index::build(dir)?;
        let (ranges, file) = crate::sorted::write(
            dir,
            &dir.join("index"),
            crate::sorted::BUDGET_ROWS,
            &index.person_ids,
        )?;
        index.event_rows = ranges;
        stats.bytes = index.save(dir)?;
        let sorted = dir.join("index").join("events_by_concept.parquet");
        stats.bytes += std::fs::metadata(&sorted).map(|m| m.len()).unwrap_or(0);
        debug_assert_eq!(
            file.rows,
            index.event_rows.values().map(|r| r.1).sum::<u64>()
        );
        stats.seconds = started.elapsed().as_secs_f64();
        Ok(stats)
    }

    pub fn path(dir: &Path) -> std::path::PathBuf {
        dir.join("index").join("concepts.idx")
    }

    /// Writes the index (entries sorted by concept id, so the file is reproducible); returns
    /// its size in bytes.
    pub fn save(&self, dir: &Path) -> Result<u64, CdrError> {
        let path = Index::path(dir);
        let io = |e: std::io::Error| CdrError::Io {
            path: path.display().to_string(),
            source: e,
        };
        std::fs::create_dir_all(path.parent().expect("has parent")).map_err(io)?;
        let tmp = path.with_extension("idx.tmp");
        let mut w = BufWriter::new(File::create(&tmp).map_err(io)?);
        w.write_all(MAGIC).map_err(io)?;
        write_u64(&mut w, self.person_ids.len() as u64).map_err(io)?;
        for p in &self.person_ids {
            w.write_all(&p.to_le_bytes()).map_err(io)?;
        }
        let mut ids: Vec<&i64> = self.concepts.keys().collect();
        ids.sort_unstable();
        write_u64(&mut w, ids.len() as u64).map_err(io)?;
        for id in ids {
            let e = &self.concepts[id];
            w.write_all(&id.to_le_bytes()).map_err(io)?;
            write_u64(&mut w, e.events).map_err(io)?;
            write_u64(&mut w, e.rollup_persons).map_err(io)?;
            write_bitmap(&mut w, &e.persons).map_err(io)?;
            match &e.rollup {
                Some(r) => {
                    w.write_all(&[1]).map_err(io)?;
                    write_bitmap(&mut w, r).map_err(io)?;
                }
                None => w.write_all(&[0]).map_err(io)?,
            }
            write_u64(&mut w, e.descendants.len() as u64).map_err(io)?;
            for d in &e.descendants {
                w.write_all(&d.to_le_bytes()).map_err(io)?;
            }
        }
        let mut ranges: Vec<(&i64, &(u64, u64))> = self.event_rows.iter().collect();
        ranges.sort_unstable();
        write_u64(&mut w, ranges.len() as u64).map_err(io)?;
        for (id, (start, len)) in ranges {
            w.write_all(&id.to_le_bytes()).map_err(io)?;
            write_u64(&mut w, *start).map_err(io)?;
            write_u64(&mut w, *len).map_err(io)?;
        }
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(bytes)
    }

    /// Loads `dir/index/concepts.idx`.
    pub fn load(dir: &Path) -> Result<Index, CdrError> {
        let path = Index::path(dir);
        let bad = |m: &str| read_err(&path, m);
        let file = File::open(&path).map_err(|e| read_err(&path, e))?;
        let mut r = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic).map_err(|e| read_err(&path, e))?;
        if &magic[..5] == b"WBIDX" && &magic != MAGIC {
            return Err(CdrError::OldIndex(path.display().to_string()));
        }
        if &magic != MAGIC {
            return Err(bad("not a Workbench index: rebuild it with `wb cdr index`"));
        }
        let rd = |r: &mut BufReader<File>| read_u64(r).map_err(|e| read_err(&path, e));
        let n = rd(&mut r)?;
        let mut person_ids = Vec::with_capacity(n as usize);
        for _ in 0..n {
            person_ids.push(rd(&mut r)? as i64);
        }
        let k = rd(&mut r)?;
        let mut concepts = HashMap::with_capacity(k as usize);
        for _ in 0..k {
            let id = rd(&mut r)? as i64;
            let events = rd(&mut r)?;
            let rollup_persons = rd(&mut r)?;
            let persons =
                RoaringBitmap::deserialize_from(&mut r).map_err(|e| read_err(&path, e))?;
            let mut flag = [0u8; 1];
            r.read_exact(&mut flag).map_err(|e| read_err(&path, e))?;
            let rollup = if flag[0] == 1 {
                Some(RoaringBitmap::deserialize_from(&mut r).map_err(|e| read_err(&path, e))?)
            } else {
                None
            };
            let nd = rd(&mut r)?;
            let mut descendants = Vec::with_capacity(nd as usize);
            for _ in 0..nd {
                descendants.push(rd(&mut r)? as i64);
            }
            concepts.insert(
                id,
                ConceptEntry {
                    persons,
                    events,
                    rollup_persons,
                    rollup,
                    descendants,
                },
            );
        }
        let nr = rd(&mut r)?;
        let mut event_rows = HashMap::with_capacity(nr as usize);
        for _ in 0..nr {
            let id = rd(&mut r)? as i64;
            let start = rd(&mut r)?;
            event_rows.insert(id, (start, rd(&mut r)?));
        }
        Ok(Index {
            person_ids,
            concepts,
            event_rows,
        })
    }

    pub fn persons(&self) -> u64 {
        self.person_ids.len() as u64
    }

    /// Persons with an event of exactly `concept`.
    pub fn persons_with(&self, concept: i64) -> u64 {
        self.concepts.get(&concept).map_or(0, |e| e.persons.len())
    }

    /// Persons with `concept` or any of its descendants.
    pub fn rollup_count(&self, concept: i64) -> u64 {
        self.concepts.get(&concept).map_or(0, |e| e.rollup_persons)
    }

    /// The persons with `concept` or any descendant, as a bitmap.
    pub fn rollup(&self, concept: i64) -> RoaringBitmap {
        let Some(e) = self.concepts.get(&concept) else {
            return RoaringBitmap::new();
        };
        if let Some(r) = &e.rollup {
            return r.clone();
        }
        std::iter::once(&e.persons)
            .chain(
                e.descendants
                    .iter()
                    .filter_map(|d| self.concepts.get(d).map(|x| &x.persons)),
            )
            .union()
    }
}

fn write_u64(w: &mut impl Write, v: u64) -> std::io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn write_bitmap(w: &mut impl Write, b: &RoaringBitmap) -> std::io::Result<()> {
    b.serialize_into(w)
}
