//! The curated data repository (CDR): participant-level data in the OMOP Common Data Model.
//!
//! This crate has no web dependencies, so its (eventually heavy) compile stays out of the web
//! edit loop. What stands so far:
//! - [`rng`]: a counter-based random number generator keyed by `(seed, stream, index)`, so every
//!   generated row depends only on its own key, not on thread count, chunking or scale;
//! - [`vocabulary`]: a synthetic, licence-clean OMOP vocabulary: per-domain concept hierarchies
//!   (a DAG, several levels deep, heavy-tailed branching, some nodes with two parents), names
//!   built from a morpheme grammar, well-known standard concepts under their real public OMOP
//!   concept ids, and the `concept_ancestor` closure.

pub mod cohort;
pub mod cohort_sql;
pub mod columns;
pub mod dates;
#[cfg(test)]
mod differential;
pub mod events;
pub mod generate;
pub mod import;
pub mod index;
pub mod parquet_in;
pub mod parquet_out;
pub mod persons;
pub mod rng;
pub mod rows;
pub mod schema;
pub mod search;
pub mod sorted;
pub mod staging;
pub mod vocabulary;

pub use parquet_out::CdrError;
