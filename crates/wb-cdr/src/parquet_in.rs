//! Reading a CDR's Parquet files column by column: one projected, batched reader for the index,
//! the sorted events and concept search.

use std::fs::File;
use std::path::Path;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::CdrError;

/// Batch size of every reader.
const BATCH_ROWS: usize = 64 * 1024;

pub fn read_err(path: &Path, e: impl std::fmt::Display) -> CdrError {
    CdrError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Streams `columns` (name and the type wanted; another type is cast to it) of the Parquet file
/// at `path`: `f` gets each batch's columns in the order asked.
pub fn scan(
    path: &Path,
    columns: &[(&str, DataType)],
    mut f: impl FnMut(&[ArrayRef]) -> Result<(), CdrError>,
) -> Result<(), CdrError> {
    let file = File::open(path).map_err(|e| read_err(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(path, e))?;
    let schema = builder.schema().clone();
    let mut indices = Vec::with_capacity(columns.len());
    for (c, _) in columns {
        indices.push(
            schema
                .index_of(c)
                .map_err(|_| read_err(path, format!("has no column {c}")))?,
        );
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| read_err(path, e))?;
    let mut cols = Vec::with_capacity(columns.len());
    for batch in reader {
        let batch = batch.map_err(|e| read_err(path, e))?;
        cols.clear();
        // Projected columns come back in file order; take each by name.
        for (c, want) in columns {
            let a = batch.column_by_name(c).expect("projected");
            cols.push(if a.data_type() == want {
                a.clone()
            } else {
                cast(a, want).map_err(|e| read_err(path, format!("column {c}: {e}")))?
            });
        }
        f(&cols)?;
    }
    Ok(())
}

/// A DataFusion session with every table of the CDR in `dir` (each `<dir>/<table>.parquet` of
/// [`crate::schema::TABLES`] that exists) registered under the table's name.
pub async fn session(dir: &Path) -> Result<datafusion::prelude::SessionContext, CdrError> {
    session_with(dir, datafusion::prelude::SessionConfig::new()).await
}

/// [`session`] with a configuration (tests over tiny CDRs run in one partition).
pub async fn session_with(
    dir: &Path,
    config: datafusion::prelude::SessionConfig,
) -> Result<datafusion::prelude::SessionContext, CdrError> {
    let ctx = datafusion::prelude::SessionContext::new_with_config(config);
    for t in crate::schema::TABLES {
        let path = dir.join(format!("{}.parquet", t.name));
        if path.is_file() {
            let p = path
                .to_str()
                .ok_or_else(|| read_err(&path, "the path is not UTF-8"))?;
            ctx.register_parquet(
                t.name,
                p,
                datafusion::prelude::ParquetReadOptions::default(),
            )
            .await
            .map_err(|e| read_err(&path, e))?;
        }
    }
    Ok(ctx)
}

/// [`session`] for tests (they compare the engines with SQL over the same files).
#[cfg(test)]
pub async fn sql_context(dir: &Path) -> datafusion::prelude::SessionContext {
    session(dir).await.expect("registers")
}
