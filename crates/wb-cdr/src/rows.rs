//! Building Arrow record batches row by row for one [`Table`] of the schema, so every writer
//! (generator, importer) produces exactly the schema's columns and types.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
};
use datafusion::arrow::record_batch::RecordBatch;

use crate::schema::{Kind, Table};

/// One value of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    Int(i64),
    Float(f64),
    Text(&'a str),
    Date(i32),
    Null,
}

enum Col {
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
    Date(Date32Builder),
}

/// Rows of one table, column by column.
pub struct TableRows {
    pub table: &'static Table,
    cols: Vec<Col>,
    rows: usize,
}

impl TableRows {
    pub fn new(table: &'static Table) -> Self {
        Self {
            table,
            cols: table
                .columns
                .iter()
                .map(|c| match c.kind {
                    Kind::Int => Col::Int(Int64Builder::new()),
                    Kind::Float => Col::Float(Float64Builder::new()),
                    Kind::Text => Col::Text(StringBuilder::new()),
                    Kind::Date => Col::Date(Date32Builder::new()),
                })
                .collect(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a row; `row` has one value per column of the table, in order. A value of the
    /// wrong kind is a programming error and panics.
    pub fn push(&mut self, row: &[Val<'_>]) {
        assert_eq!(row.len(), self.cols.len(), "{}: row width", self.table.name);
        for (col, val) in self.cols.iter_mut().zip(row) {
            match (col, val) {
                (Col::Int(b), Val::Int(v)) => b.append_value(*v),
                (Col::Int(b), Val::Null) => b.append_null(),
                (Col::Float(b), Val::Float(v)) => b.append_value(*v),
                (Col::Float(b), Val::Null) => b.append_null(),
                (Col::Text(b), Val::Text(v)) => b.append_value(v),
                (Col::Text(b), Val::Null) => b.append_null(),
                (Col::Date(b), Val::Date(v)) => b.append_value(*v),
                (Col::Date(b), Val::Null) => b.append_null(),
                (_, v) => panic!("{}: value {v:?} of the wrong kind", self.table.name),
            }
        }
        self.rows += 1;
    }

    /// The rows so far as a batch; the builder is empty afterwards.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Int(b) => Arc::new(b.finish()),
                    Col::Float(b) => Arc::new(b.finish()),
                    Col::Text(b) => Arc::new(b.finish()),
                    Col::Date(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.table.arrow_schema(), arrays)
            .expect("columns built from the table's own schema")
    }
}
