//! `wb cdr generate | index | search | browse | bench`: the curated data repository's data
//! commands. They work on a CDR directory and need no database.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use roaring::RoaringBitmap;
use wb_cdr::generate::{GenerateConfig, Manifest};
use wb_cdr::index::Index;
use wb_cdr::search::{Cdr, Query};

/// Runs a data command (not `register` or `list`).
pub fn run(command: crate::admin::CdrCommand) -> Result<()> {
    use crate::admin::CdrCommand as C;
    match command {
        C::Generate(args) => generate(args),
        C::Import {
            from,
            out,
            replace,
            max_date,
        } => import(&from, &out, replace, max_date.as_deref()),
        C::Index { dir } => index(&dir),
        C::Search(args) => search(args),
        C::Browse { dir, concept_id } => browse(&dir, concept_id),
        C::Bench { dir, runs } => bench(&dir, runs),
        C::Register { .. } | C::List => bail!("this command needs the database"),
    }
}

/// `wb cdr import`: validates and imports, building the index before the CDR becomes visible.
pub fn import(from: &Path, out: &Path, replace: bool, max_date: Option<&str>) -> Result<()> {
    use wb_cdr::import::{ImportError, ImportOptions};
    let mut opts = ImportOptions {
        replace,
        ..Default::default()
    };
    if let Some(d) = max_date {
        opts.max_date = wb_cdr::dates::parse(d)
            .with_context(|| format!("--max-date '{d}' is not a date (YYYY-MM-DD)"))?;
    }
    let started = Instant::now();
    let mut stats = None;
    let result = wb_cdr::import::import(from, out, &opts, &mut |staging| {
        stats = Some(Index::build_and_save(staging).map_err(|e| e.to_string())?);
        Ok(())
    });
    match result {
        Ok(report) => {
            for (table, rows) in &report.tables {
                println!("{table:<22} {rows:>12} rows");
            }
            let s = stats.expect("the index is built before publishing");
            println!(
                "Imported into {} in {:.1} s; index: {} persons, {} concepts, {} in {:.1} s.",
                report.out.display(),
                started.elapsed().as_secs_f64(),
                s.persons,
                s.concepts,
                mib(s.bytes),
                s.seconds
            );
            Ok(())
        }
        Err(ImportError::Invalid(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            bail!(
                "{} problem{} in {}: nothing was imported",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                from.display()
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Args)]
pub struct GenerateArgs {
    /// How many persons (1,000,000 makes about 1e8 events).
    #[arg(long)]
    pub persons: u64,
    /// The seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The directory to create (it must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// Generated concepts per domain (six domains).
    #[arg(long, default_value_t = 10_000)]
    pub concepts_per_domain: usize,
    /// The CDR's cutoff year (data runs to July 1st of it).
    #[arg(long, default_value_t = 2025)]
    pub cutoff_year: i32,
    /// Worker threads (default: one per core; the output does not depend on it).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the summary as JSON (for scripts/bench).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct SearchArgs {
    /// The CDR directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Words to find in concept names or synonyms, or a concept code.
    pub text: Vec<String>,
    /// Only this domain (Condition, Drug, Measurement, Procedure, Observation, Device, …).
    #[arg(long)]
    pub domain: Option<String>,
    /// Only this vocabulary (SNOMED, RxNorm, LOINC, …).
    #[arg(long)]
    pub vocabulary: Option<String>,
    /// Only standard concepts.
    #[arg(long)]
    pub standard: bool,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Peak resident memory of this process (Linux), in bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident memory of this process now and at its peak (Linux `VmRSS`, `VmHWM`), in bytes.
pub fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A progress line on stderr: redrawn in place on a terminal, every 10% otherwise.
struct Progress {
    started: Instant,
    last: std::sync::Mutex<(Instant, u64)>,
    tty: bool,
}

impl Progress {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last: std::sync::Mutex::new((Instant::now() - Duration::from_secs(1), 0)),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn update(&self, done: u64, total: u64) {
        let mut last = self.last.lock().expect("progress lock");
        let now = Instant::now();
        let finished = done >= total;
        let decile = done * 10 / total.max(1);
        let due = if self.tty {
            now - last.0 >= Duration::from_millis(150) || finished
        } else {
            decile > last.1 || finished
        };
        if !due {
            return;
        }
        *last = (now, decile);
        let secs = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / secs.max(1e-9);
        let eta = (total - done) as f64 / rate.max(1e-9);
        let width = 30usize;
        let filled = (done as usize * width) / total.max(1) as usize;
        let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
        let line = format!(
            "[{bar}] {done}/{total} persons  {rate:.0}/s  {secs:.0}s elapsed  ~{eta:.0}s left"
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{line}\x1b[K");
            if finished {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
}

pub fn generate(args: GenerateArgs) -> Result<()> {
    if args.persons == 0 {
        bail!("--persons must be at least 1");
    }
    if args.concepts_per_domain < 100 {
        bail!("--concepts-per-domain must be at least 100");
    }
    let mut cfg = GenerateConfig {
        seed: args.seed,
        persons: args.persons,
        concepts_per_domain: args.concepts_per_domain,
        cutoff_year: args.cutoff_year,
        ..Default::default()
    };
    if let Some(t) = args.threads {
        cfg.threads = t.max(1);
    }
    let started = Instant::now();
    let progress = Progress::new();
    let mut index_stats = None;
    let mut generated_at = None;
    let manifest = wb_cdr::generate::generate(
        &args.out,
        &cfg,
        &|done, total| progress.update(done, total),
        &mut |staging| {
            generated_at = Some(started.elapsed());
            index_stats = Some(Index::build_and_save(staging)?);
            Ok(())
        },
    )
    .with_context(|| format!("generating {}", args.out.display()))?;
    let generate_secs = generated_at.unwrap_or_default().as_secs_f64();
    let index = index_stats.expect("index built before publishing");
    let peak = peak_rss().unwrap_or(0);
    let events = manifest.events();
    let bytes = dir_size(&args.out);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "persons": args.persons,
                "seed": args.seed,
                "events": events,
                "generate_seconds": generate_secs,
                "index_seconds": index.seconds,
                "index_bytes": index.bytes,
                "index_pairs": index.pairs,
                "index_concepts": index.concepts,
                "peak_rss_bytes": peak,
                "bytes": bytes,
                "threads": cfg.threads,
            })
        );
    } else {
        println!(
            "Generated {} persons and {events} events in {generate_secs:.1} s into {} ({} on disk).",
            args.persons,
            args.out.display(),
            mib(bytes)
        );
        println!(
            "Index: {} concepts, {} person-concept pairs, {} rollup bitmaps, {} in {:.1} s.",
            index.concepts,
            index.pairs,
            index.materialised,
            mib(index.bytes),
            index.seconds
        );
        println!("Peak memory {}.", mib(peak));
    }
    Ok(())
}

/// Bytes of the files under `p`.
fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

pub fn index(dir: &Path) -> Result<()> {
    Manifest::read(dir).with_context(|| format!("{} is not a CDR directory", dir.display()))?;
    let stats = Index::build_and_save(dir)?;
    println!(
        "Indexed {} persons, {} events: {} concepts, {} person-concept pairs, {} rollup bitmaps, {} in {:.1} s.",
        stats.persons,
        stats.events,
        stats.concepts,
        stats.pairs,
        stats.materialised,
        mib(stats.bytes),
        stats.seconds
    );
    Ok(())
}

fn open(dir: &Path) -> Result<Cdr> {
    Cdr::open(dir).with_context(|| {
        format!(
            "cannot open the CDR in {} (generate or import one; `wb cdr index --dir` rebuilds its index)",
            dir.display()
        )
    })
}

pub fn search(args: SearchArgs) -> Result<()> {
    let text = args.text.join(" ");
    if text.trim().is_empty() {
        bail!("give words or a code to search for");
    }
    let cdr = open(&args.dir)?;
    let started = Instant::now();
    let hits = cdr.search(&Query {
        text,
        domain: args.domain,
        vocabulary: args.vocabulary,
        standard_only: args.standard,
        limit: args.limit,
    });
    let took = started.elapsed();
    println!(
        "{:>12}  {:>9}  {:<12} {:<13} {:<20} NAME",
        "CONCEPT ID", "PERSONS", "DOMAIN", "VOCABULARY", "CODE"
    );
    for h in &hits {
        let c = &h.concept;
        println!(
            "{:>12}  {:>9}  {:<12} {:<13} {:<20} {}{}",
            c.concept_id,
            h.persons,
            c.domain,
            c.vocabulary,
            c.code,
            c.name,
            match h.matched {
                wb_cdr::search::Matched::Synonym => "  (synonym)",
                _ => "",
            }
        );
    }
    eprintln!(
        "{} results in {:.2} ms",
        hits.len(),
        took.as_secs_f64() * 1e3
    );
    Ok(())
}

pub fn browse(dir: &Path, concept: i64) -> Result<()> {
    let cdr = open(dir)?;
    let Some(c) = cdr.concept(concept) else {
        bail!("concept {concept} is not in this CDR's vocabulary");
    };
    println!(
        "{} {} [{} / {} / {}]: {} persons with it or a descendant, {} with exactly it",
        c.concept_id,
        c.name,
        c.domain,
        c.vocabulary,
        c.code,
        cdr.index.rollup_count(concept),
        cdr.index.persons_with(concept)
    );
    for (label, list) in [
        ("Parents", cdr.parents(concept)),
        ("Children", cdr.children(concept)),
    ] {
        println!("{label}:");
        if list.is_empty() {
            println!("  (none)");
        }
        for h in list {
            println!(
                "  {:>12}  {:>9}  {}",
                h.concept.concept_id, h.persons, h.concept.name
            );
        }
    }
    Ok(())
}

/// Cohort criteria the benchmark counts (scripts/bench has the same in SQL for DuckDB).
pub const CRITERIA: [&str; 5] = [
    "c1_type_2_diabetes",
    "c2_largest_condition_subtree",
    "c3_all_conditions",
    "c5_female_t2dm_not_metformin",
    "c9_survey_good_health",
];

/// Criterion `i` of [`CRITERIA`] as a bitmap expression over the index.
fn criterion(cdr: &Cdr, i: usize, subtree: i64) -> RoaringBitmap {
    use wb_cdr::events::{METFORMIN, TYPE_2_DIABETES};
    let ix = &cdr.index;
    match i {
        0 => ix.rollup(TYPE_2_DIABETES),
        1 => ix.rollup(subtree),
        2 => ix.rollup(wb_cdr::vocabulary::SYNTHETIC_ID_BASE),
        3 => (ix.rollup(8532) & ix.rollup(TYPE_2_DIABETES)) - ix.rollup(METFORMIN),
        // Overall Health: "In general, would you say your health is:" Good.
        _ => ix.rollup(wb_cdr::vocabulary::survey_answer_id(2, 0, 2)),
    }
}

/// The concept searches the benchmark times.
pub const BENCH_QUERIES: &[(&str, Option<&str>)] = &[
    ("44054006", None),
    ("diab", None),
    ("type 2 diab", None),
    ("itis of kidney", Some("Condition")),
    ("hba1c", Some("Measurement")),
    ("pril", Some("Drug")),
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `wb cdr bench --dir`: the engine side of benches/run, as one JSON object: index load
/// time, counts for the canonical criteria with their latencies, concept search latency, and
/// the cohort builder's full answers for the definitions of [`crate::cohort_bench`].
pub fn bench(dir: &Path, runs: usize) -> Result<()> {
    let started = Instant::now();
    let cdr = open(dir)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let runs = runs.max(1);
    let mut counts = serde_json::Map::new();
    let subtree = crate::cohort_bench::largest_condition_subtree(&cdr);
    for (i, name) in CRITERIA.iter().enumerate() {
        let mut times = Vec::with_capacity(runs);
        let mut count = 0;
        for _ in 0..runs {
            let t = Instant::now();
            count = criterion(&cdr, i, subtree).len();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        counts.insert(
            (*name).into(),
            serde_json::json!({
                "count": count,
                "p50_ms": percentile(&times, 0.5),
                "p95_ms": percentile(&times, 0.95),
            }),
        );
    }
    let mut searches = serde_json::Map::new();
    for (text, domain) in BENCH_QUERIES {
        let q = Query {
            text: (*text).into(),
            domain: domain.map(Into::into),
            limit: 50,
            ..Default::default()
        };
        let mut times = Vec::with_capacity(runs);
        let mut hits = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            hits = cdr.search(&q);
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        searches.insert(
            format!("{text}|{}", domain.unwrap_or("")),
            serde_json::json!({
                "ids": hits.iter().map(|h| h.concept.concept_id).collect::<Vec<_>>(),
                "p50_ms": percentile(&times, 0.5),
                "p95_ms": percentile(&times, 0.95),
            }),
        );
    }
    let peak_rss_bytes = peak_rss().unwrap_or(0);
    let (persons, concepts) = (cdr.index.persons(), cdr.concepts());
    // The cohort engine: the person facts on top of the vocabulary and index.
    let started = Instant::now();
    let engine = wb_cdr::cohort::Engine::new(cdr).context("opening the cohort engine")?;
    let engine_open_seconds = started.elapsed().as_secs_f64();
    let engine_rss = rss();
    let cohorts = crate::cohort_bench::bench(&engine, dir, runs)?;
    println!(
        "{}",
        serde_json::json!({
            "persons": persons,
            "concepts": concepts,
            "load_seconds": load_seconds,
            "peak_rss_bytes": peak_rss_bytes,
            "c2_concept_id": subtree,
            "counts": counts,
            "searches": searches,
            "engine_open_seconds": engine_open_seconds,
            "engine_rss_bytes": engine_rss.0,
            "engine_peak_rss_bytes": engine_rss.1,
            "cohorts_rss_bytes": rss().0,
            "cohorts_peak_rss_bytes": rss().1,
            "cohorts": cohorts,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_then_search_browse_index_and_bench_from_the_command_line_functions() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("cdr");
        let args = |persons| GenerateArgs {
            persons,
            seed: 3,
            out: out.clone(),
            concepts_per_domain: 300,
            cutoff_year: 2025,
            threads: Some(2),
            json: true,
        };
        assert!(generate(args(0)).is_err(), "zero persons is refused");
        generate(args(200)).unwrap();
        let err = generate(args(200)).unwrap_err();
        assert!(format!("{err:#}").contains("exists already"), "{err:#}");
        let cdr = open(&out).unwrap();
        assert_eq!(cdr.index.persons(), 200);
        index(&out).unwrap();
        assert_eq!(
            open(&out).unwrap().index,
            cdr.index,
            "a rebuilt index is the same"
        );
        search(SearchArgs {
            dir: out.clone(),
            text: vec!["diabetes".into()],
            domain: Some("Condition".into()),
            vocabulary: None,
            standard: true,
            limit: 5,
        })
        .unwrap();
        browse(&out, 201820).unwrap();
        assert!(browse(&out, 42).is_err());
        bench(&out, 2).unwrap();
        // The generated CDR is a valid OMOP export: importing it gives the same index.
        let imported = tmp.path().join("imported");
        import(&out, &imported, false, None).unwrap();
        assert_eq!(open(&imported).unwrap().index, cdr.index);
        assert!(
            import(&out, &imported, false, None).is_err(),
            "no silent overwrite"
        );
        import(&out, &imported, true, Some("2030-01-01")).unwrap();
        assert!(import(&out, &tmp.path().join("x"), false, Some("2030-02-30")).is_err());
        // An export with an event before the accepted range is refused and leaves nothing.
        let err = import(&out, &tmp.path().join("y"), false, Some("1999-01-01")).unwrap_err();
        assert!(
            format!("{err:#}").contains("nothing was imported"),
            "{err:#}"
        );
        assert!(!tmp.path().join("y").exists());
        let missing = open(&tmp.path().join("nothing")).err().unwrap();
        assert!(format!("{missing:#}").contains("cannot open the CDR"));
    }
}
