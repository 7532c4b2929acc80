//! Concept search and hierarchy browsing over a CDR: by code, name or synonym (every word of the
//! query a substring, case-insensitive), filtered by domain, vocabulary and standard status,
//! ranked by participant count (exact code matches first); and each concept's parents and
//! children with their counts.
//!
//! The vocabulary is loaded from the CDR's Parquet (`concept`, `concept_synonym`,
//! `concept_ancestor`) and counts come from the [`Index`]. The semantics are exactly those of
//! [`reference_sql`], which the tests run in DataFusion over the same files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};

use crate::CdrError;
use crate::index::Index;

/// One concept of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concept {
    pub concept_id: i64,
    pub name: String,
    pub domain: String,
    pub vocabulary: String,
    pub class: String,
    /// `S`, `C` or empty.
    pub standard: String,
    pub code: String,
}

/// How a hit matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Matched {
    Code,
    Name,
    Synonym,
}

/// A search result or a hierarchy neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub concept: Concept,
    /// Participants with this concept or a descendant.
    pub persons: u64,
    /// Participants with exactly this concept.
    pub own_persons: u64,
    pub matched: Matched,
}

/// Result order: exact code matches first, then most participants, then concept id.
type RankKey = (bool, std::cmp::Reverse<u64>, i64);

/// A search request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub text: String,
    pub domain: Option<String>,
    pub vocabulary: Option<String>,
    pub standard_only: bool,
    pub limit: usize,
}

struct Entry {
    concept: Concept,
    name_lc: String,
    code_lc: String,
    synonyms_lc: Vec<String>,
}

/// An opened CDR: vocabulary, hierarchy and person index.
pub struct Cdr {
    pub dir: PathBuf,
    pub index: Index,
    entries: Vec<Entry>,
    by_id: HashMap<i64, usize>,
    parents: HashMap<i64, Vec<i64>>,
    children: HashMap<i64, Vec<i64>>,
}

/// Reads whole columns of a Parquet file, batch by batch: `(name, is text)`; text comes as
/// `Utf8`, the rest as `Int64`.
fn read_columns(path: &Path, columns: &[(&str, bool)]) -> Result<Vec<Vec<ArrayRef>>, CdrError> {
    let wanted: Vec<(&str, DataType)> = columns
        .iter()
        .map(|(c, text)| {
            (
                *c,
                if *text {
                    DataType::Utf8
                } else {
                    DataType::Int64
                },
            )
        })
        .collect();
    let mut out = Vec::new();
    crate::parquet_in::scan(path, &wanted, |cols| {
        out.push(cols.to_vec());
        Ok(())
    })?;
    Ok(out)
}

fn text(a: &ArrayRef, row: usize) -> &str {
    let s = a.as_string::<i32>();
    if s.is_valid(row) { s.value(row) } else { "" }
}

fn int(a: &ArrayRef, row: usize) -> i64 {
    a.as_primitive::<Int64Type>().value(row)
}

impl Cdr {
    /// Opens the CDR in `dir` (its Parquet vocabulary and its prebuilt index).
    pub fn open(dir: &Path) -> Result<Cdr, CdrError> {
        let index = Index::load(dir)?;
        Cdr::with_index(dir, index)
    }

    pub fn with_index(dir: &Path, index: Index) -> Result<Cdr, CdrError> {
        let mut entries = Vec::new();
        let mut by_id = HashMap::new();
        let concept_path = dir.join("concept.parquet");
        for cols in read_columns(
            &concept_path,
            &[
                ("concept_id", false),
                ("concept_name", true),
                ("domain_id", true),
                ("vocabulary_id", true),
                ("concept_class_id", true),
                ("standard_concept", true),
                ("concept_code", true),
            ],
        )? {
            for row in 0..cols[0].len() {
                let concept = Concept {
                    concept_id: int(&cols[0], row),
                    name: text(&cols[1], row).to_owned(),
                    domain: text(&cols[2], row).to_owned(),
                    vocabulary: text(&cols[3], row).to_owned(),
                    class: text(&cols[4], row).to_owned(),
                    standard: text(&cols[5], row).to_owned(),
                    code: text(&cols[6], row).to_owned(),
                };
                by_id.insert(concept.concept_id, entries.len());
                entries.push(Entry {
                    name_lc: concept.name.to_lowercase(),
                    code_lc: concept.code.to_lowercase(),
                    synonyms_lc: Vec::new(),
                    concept,
                });
            }
        }
        let synonym_path = dir.join("concept_synonym.parquet");
        if synonym_path.exists() {
            for cols in read_columns(
                &synonym_path,
                &[("concept_id", false), ("concept_synonym_name", true)],
            )? {
                for row in 0..cols[0].len() {
                    if let Some(i) = by_id.get(&int(&cols[0], row)) {
                        entries[*i]
                            .synonyms_lc
                            .push(text(&cols[1], row).to_lowercase());
                    }
                }
            }
        }
        let mut parents: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
        for cols in read_columns(
            &dir.join("concept_ancestor.parquet"),
            &[
                ("ancestor_concept_id", false),
                ("descendant_concept_id", false),
                ("min_levels_of_separation", false),
            ],
        )? {
            for row in 0..cols[0].len() {
                if int(&cols[2], row) == 1 {
                    let (a, d) = (int(&cols[0], row), int(&cols[1], row));
                    parents.entry(d).or_default().push(a);
                    children.entry(a).or_default().push(d);
                }
            }
        }
        Ok(Cdr {
            dir: dir.to_owned(),
            index,
            entries,
            by_id,
            parents,
            children,
        })
    }

    /// Every descendant of `id` (itself excluded), by the hierarchy's direct `is a` edges.
    pub fn descendants(&self, id: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![id];
        while let Some(c) = stack.pop() {
            for &d in self.children.get(&c).map_or(&[][..], |v| v.as_slice()) {
                if seen.insert(d) {
                    out.push(d);
                    stack.push(d);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The direct parents of `id` (ids only).
    pub fn parent_ids(&self, id: i64) -> &[i64] {
        self.parents.get(&id).map_or(&[], |v| v.as_slice())
    }

    /// The concept with this code, if one has it (the first in file order).
    pub fn by_code(&self, code: &str) -> Option<&Concept> {
        self.entries
            .iter()
            .find(|e| e.concept.code == code)
            .map(|e| &e.concept)
    }

    /// Every concept, in file order.
    pub fn all_concepts(&self) -> impl Iterator<Item = &Concept> {
        self.entries.iter().map(|e| &e.concept)
    }

    pub fn concepts(&self) -> usize {
        self.entries.len()
    }

    pub fn concept(&self, id: i64) -> Option<&Concept> {
        self.by_id.get(&id).map(|i| &self.entries[*i].concept)
    }

    fn hit(&self, i: usize, matched: Matched) -> Hit {
        let c = &self.entries[i].concept;
        Hit {
            persons: self.index.rollup_count(c.concept_id),
            own_persons: self.index.persons_with(c.concept_id),
            concept: c.clone(),
            matched,
        }
    }

    /// Searches concepts; see the module documentation for the rules.
    pub fn search(&self, q: &Query) -> Vec<Hit> {
        let text = q.text.trim().to_lowercase();
        let tokens: Vec<&str> = text.split_whitespace().collect();
        if tokens.is_empty() {
            return Vec::new();
        }
        let all_in = |s: &str| tokens.iter().all(|t| s.contains(t));
        // (rank key, entry, how it matched); the key is computed once per hit.
        let mut hits: Vec<(RankKey, usize, Matched)> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let c = &e.concept;
            if q.standard_only && c.standard != "S" {
                continue;
            }
            if let Some(d) = &q.domain
                && !c.domain.eq_ignore_ascii_case(d)
            {
                continue;
            }
            if let Some(v) = &q.vocabulary
                && !c.vocabulary.eq_ignore_ascii_case(v)
            {
                continue;
            }
            let matched = if e.code_lc == text {
                Matched::Code
            } else if all_in(&e.name_lc) {
                Matched::Name
            } else if e.synonyms_lc.iter().any(|s| all_in(s)) {
                Matched::Synonym
            } else {
                continue;
            };
            let id = c.concept_id;
            let key = (
                matched != Matched::Code,
                std::cmp::Reverse(self.index.rollup_count(id)),
                id,
            );
            hits.push((key, i, matched));
        }
        let limit = if q.limit == 0 { 50 } else { q.limit };
        if hits.len() > limit {
            hits.select_nth_unstable_by_key(limit, |h| h.0);
            hits.truncate(limit);
        }
        hits.sort_unstable_by_key(|h| h.0);
        hits.into_iter().map(|(_, i, m)| self.hit(i, m)).collect()
    }

    /// These concepts (unknown ids left out), most participants first.
    pub fn of_ids(&self, ids: &[i64]) -> Vec<Hit> {
        self.neighbours(Some(&ids.to_vec()))
    }

    /// Every concept of a domain, of one class if given, most participants first.
    pub fn in_domain(&self, domain: &str, class: Option<&str>) -> Vec<Hit> {
        let ids: Vec<i64> = self
            .entries
            .iter()
            .filter(|e| {
                e.concept.domain.eq_ignore_ascii_case(domain)
                    && class.is_none_or(|c| e.concept.class.eq_ignore_ascii_case(c))
            })
            .map(|e| e.concept.concept_id)
            .collect();
        self.neighbours(Some(&ids))
    }

    fn neighbours(&self, ids: Option<&Vec<i64>>) -> Vec<Hit> {
        let mut out: Vec<Hit> = ids
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id).map(|i| self.hit(*i, Matched::Name)))
            .collect();
        out.sort_by_key(|h| (std::cmp::Reverse(h.persons), h.concept.concept_id));
        out.dedup_by_key(|h| h.concept.concept_id);
        out
    }

    /// The direct parents of a concept, most participants first.
    pub fn parents(&self, id: i64) -> Vec<Hit> {
        self.neighbours(self.parents.get(&id))
    }

    /// The direct children of a concept, most participants first.
    pub fn children(&self, id: i64) -> Vec<Hit> {
        self.neighbours(self.children.get(&id))
    }

    /// Concepts without parents in a domain (where browsing starts), most participants first.
    pub fn roots(&self, domain: &str) -> Vec<Hit> {
        let ids: Vec<i64> = self
            .entries
            .iter()
            .filter(|e| {
                e.concept.domain.eq_ignore_ascii_case(domain)
                    && !self.parents.contains_key(&e.concept.concept_id)
                    && self.children.contains_key(&e.concept.concept_id)
            })
            .map(|e| e.concept.concept_id)
            .collect();
        self.neighbours(Some(&ids))
    }
}

/// `WITH ev AS (…), counts AS (…)`: every event's `(person_id, concept_id)` and each
/// concept's rollup person count `n` (itself or any descendant), as the index defines them.
pub fn counts_sql() -> String {
    let events = crate::schema::EVENT_TABLES
        .iter()
        .flat_map(|t| {
            let mut parts = vec![format!(
                "SELECT person_id, {} AS concept_id FROM {}",
                t.event_concept.expect("event table"),
                t.name
            )];
            if let Some(v) = t.value_concept {
                parts.push(format!(
                    "SELECT person_id, {v} AS concept_id FROM {} WHERE {v} IS NOT NULL",
                    t.name
                ));
            }
            parts
        })
        .chain(
            crate::index::PERSON_COLUMNS[1..]
                .iter()
                .map(|c| format!("SELECT person_id, {c} AS concept_id FROM person WHERE {c} <> 0")),
        )
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!(
        "WITH ev AS ({events}), \
         counts AS (SELECT a.ancestor_concept_id AS concept_id, COUNT(DISTINCT ev.person_id) AS n \
                    FROM ev JOIN concept_ancestor a ON a.descendant_concept_id = ev.concept_id \
                    GROUP BY a.ancestor_concept_id \
                    UNION ALL \
                    SELECT ev.concept_id, COUNT(DISTINCT ev.person_id) FROM ev \
                    WHERE ev.concept_id NOT IN (SELECT descendant_concept_id FROM concept_ancestor \
                                                WHERE ancestor_concept_id = descendant_concept_id) \
                    GROUP BY ev.concept_id)"
    )
}

/// The SQL (DataFusion dialect, tables named as the CDR's files) that defines what
/// [`Cdr::search`] returns: `concept_id`, rollup person count `n` and the match rank, in
/// result order. Tokens are lowercased words of the query; quotes are doubled.
pub fn reference_sql(q: &Query) -> String {
    let text = q.text.trim().to_lowercase().replace('\'', "''");
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let all_in = |col: &str| {
        tokens
            .iter()
            .map(|t| format!("strpos(lower({col}), '{t}') > 0"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let mut filters = Vec::new();
    if q.standard_only {
        filters.push("c.standard_concept = 'S'".to_owned());
    }
    if let Some(d) = &q.domain {
        filters.push(format!(
            "lower(c.domain_id) = lower('{}')",
            d.replace('\'', "''")
        ));
    }
    if let Some(v) = &q.vocabulary {
        filters.push(format!(
            "lower(c.vocabulary_id) = lower('{}')",
            v.replace('\'', "''")
        ));
    }
    let filters = filters
        .iter()
        .map(|f| format!(" AND {f}"))
        .collect::<String>();
    let limit = if q.limit == 0 { 50 } else { q.limit };
    format!(
        "{counts} \
         SELECT c.concept_id, COALESCE(k.n, 0) AS n, \
                CASE WHEN lower(c.concept_code) = '{text}' THEN 0 ELSE 1 END AS code_rank \
         FROM concept c LEFT JOIN counts k ON k.concept_id = c.concept_id \
         WHERE (lower(c.concept_code) = '{text}' OR ({name}) \
                OR c.concept_id IN (SELECT concept_id FROM concept_synonym s WHERE {syn})){filters} \
         ORDER BY code_rank, n DESC, c.concept_id LIMIT {limit}",
        counts = counts_sql(),
        name = all_in("c.concept_name"),
        syn = all_in("s.concept_synonym_name"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{GenerateConfig, generate};
    use datafusion::prelude::SessionContext;

    fn small_cdr(dir: &Path) {
        generate(
            dir,
            &GenerateConfig {
                seed: 5,
                persons: 2_000,
                concepts_per_domain: 1_500,
                threads: 2,
                chunk: 500,
                ..Default::default()
            },
            &|_, _| {},
            &mut |staging| Index::build_and_save(staging).map(|_| ()),
        )
        .unwrap();
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> Vec<(i64, i64)> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_primitive::<Int64Type>();
                let n = b.column(1).as_primitive::<Int64Type>();
                (0..b.num_rows())
                    .map(|i| (a.value(i), n.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The index's per-concept and rollup person counts, its saved-and-loaded form, concept
    /// search and hierarchy browsing all agree with SQL over the same Parquet in DataFusion.
    #[tokio::test]
    async fn index_search_and_hierarchy_agree_with_sql() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cdr");
        small_cdr(&dir);
        let cdr = Cdr::open(&dir).unwrap();
        let (rebuilt, stats) = Index::build(&dir).unwrap();
        let mut loaded = cdr.index.clone();
        assert!(!loaded.event_rows.is_empty());
        loaded.event_rows.clear();
        assert_eq!(rebuilt, loaded, "save/load round trip");
        assert_eq!(stats.persons, 2_000);
        assert!(stats.materialised > 0);
        let ctx = crate::parquet_in::sql_context(&dir).await;

        // Every concept's rollup count, against SQL.
        let counts = format!("{} SELECT concept_id, n FROM counts", counts_sql());
        let expected = rows(&ctx, &counts).await;
        assert!(
            expected.len() > 1_000,
            "{} concepts with participants",
            expected.len()
        );
        for (id, n) in &expected {
            assert_eq!(cdr.index.rollup_count(*id), *n as u64, "rollup of {id}");
            assert_eq!(
                cdr.index.rollup(*id).len(),
                *n as u64,
                "rollup bitmap of {id}"
            );
        }
        let own = rows(
            &ctx,
            "SELECT condition_concept_id, COUNT(DISTINCT person_id) FROM condition_occurrence GROUP BY 1",
        )
        .await;
        for (id, n) in own {
            assert_eq!(cdr.index.persons_with(id), n as u64, "persons with {id}");
        }

        // Searches, against the reference SQL (ids, counts and order).
        let queries = [
            Query {
                text: "diab".into(),
                ..Default::default()
            },
            Query {
                text: "Type 2 diab".into(),
                ..Default::default()
            },
            Query {
                text: "T2DM".into(),
                ..Default::default()
            },
            Query {
                text: "44054006".into(),
                ..Default::default()
            },
            Query {
                text: "hba1c".into(),
                domain: Some("Measurement".into()),
                ..Default::default()
            },
            Query {
                text: "cardio".into(),
                domain: Some("condition".into()),
                limit: 25,
                ..Default::default()
            },
            Query {
                text: "of kidney".into(),
                standard_only: true,
                limit: 40,
                ..Default::default()
            },
            Query {
                text: "pril".into(),
                vocabulary: Some("WB Synthetic".into()),
                ..Default::default()
            },
            Query {
                text: "general health".into(),
                ..Default::default()
            },
            Query {
                text: "excellent".into(),
                ..Default::default()
            },
            Query {
                text: "WB-C-0000012".into(),
                ..Default::default()
            },
            Query {
                text: "no such words zzz".into(),
                ..Default::default()
            },
        ];
        for q in &queries {
            let got: Vec<(i64, i64)> = cdr
                .search(q)
                .iter()
                .map(|h| (h.concept.concept_id, h.persons as i64))
                .collect();
            let want = rows(&ctx, &reference_sql(q)).await;
            assert_eq!(got, want, "search {q:?}");
        }
        let t2 = cdr.search(&Query {
            text: "type 2 diabetes".into(),
            ..Default::default()
        });
        assert_eq!(t2[0].concept.concept_id, 201826);
        assert!(t2[0].persons > 100, "{} diabetics", t2[0].persons);
        let by_code = cdr.search(&Query {
            text: "44054006".into(),
            ..Default::default()
        });
        assert_eq!(
            (by_code[0].concept.concept_id, by_code[0].matched),
            (201826, Matched::Code)
        );
        let by_synonym = cdr.search(&Query {
            text: "t2dm".into(),
            ..Default::default()
        });
        assert_eq!(
            (by_synonym[0].concept.concept_id, by_synonym[0].matched),
            (201826, Matched::Synonym)
        );
        // Ranked by participant count.
        let many = cdr.search(&Query {
            text: "itis".into(),
            limit: 30,
            ..Default::default()
        });
        assert!(many.windows(2).all(|w| w[0].persons >= w[1].persons));

        // Hierarchy: children and parents with counts, against concept_ancestor in SQL.
        let root = crate::vocabulary::SYNTHETIC_ID_BASE;
        let children = cdr.children(root);
        let want = rows(
            &ctx,
            &format!(
                "{} SELECT a.descendant_concept_id, COALESCE(k.n, 0) AS n \
                 FROM concept_ancestor a LEFT JOIN counts k ON k.concept_id = a.descendant_concept_id \
                 WHERE a.ancestor_concept_id = {root} AND a.min_levels_of_separation = 1 \
                 ORDER BY n DESC, a.descendant_concept_id",
                counts_sql()
            ),
        )
        .await;
        let got: Vec<(i64, i64)> = children
            .iter()
            .map(|h| (h.concept.concept_id, h.persons as i64))
            .collect();
        assert_eq!(got, want);
        assert!(
            cdr.children(201820)
                .iter()
                .any(|h| h.concept.concept_id == 201826)
        );
        assert!(
            cdr.parents(201826)
                .iter()
                .any(|h| h.concept.concept_id == 201820)
        );
        assert_eq!(cdr.roots("Condition")[0].concept.concept_id, root);
        // A parent's rollup covers each child's.
        let parent = cdr.index.rollup(201820);
        assert!(cdr.index.rollup(201826).is_subset(&parent));
        // Demographics are bitmaps: female diabetics not on metformin, against SQL.
        let female_t2dm_no_metformin =
            (cdr.index.rollup(8532) & cdr.index.rollup(201826)) - cdr.index.rollup(1503297);
        let want = rows(
            &ctx,
            "SELECT COUNT(*), 0 FROM person p WHERE p.gender_concept_id = 8532 \
             AND p.person_id IN (SELECT person_id FROM condition_occurrence o JOIN concept_ancestor a \
                 ON a.descendant_concept_id = o.condition_concept_id WHERE a.ancestor_concept_id = 201826) \
             AND p.person_id NOT IN (SELECT person_id FROM drug_exposure WHERE drug_concept_id = 1503297)",
        )
        .await;
        assert_eq!(female_t2dm_no_metformin.len() as i64, want[0].0);
        assert!(want[0].0 > 0);
    }
}
