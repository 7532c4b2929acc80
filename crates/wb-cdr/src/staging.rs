//! Publishing a CDR directory atomically: everything is written into a staging directory next
//! to the target, which is renamed into place only when complete (and removed otherwise), so
//! nothing half-written ever looks like a CDR. Used by generation and import.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error("{} exists already", .0.display())]
    Exists(PathBuf),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StagingError + '_ {
    move |source| StagingError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `{out}.{purpose}-{pid}`, next to `out` (so renaming it to `out` is atomic).
fn sibling(out: &Path, purpose: &str) -> Result<PathBuf, StagingError> {
    let Some(name) = out.file_name() else {
        return Err(StagingError::Io {
            path: out.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory name"),
        });
    };
    Ok(out.with_file_name(format!(
        "{}.{purpose}-{}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// A directory next to `out` that becomes `out` when published and is removed otherwise.
pub struct Staging {
    path: PathBuf,
    published: bool,
}

impl Staging {
    /// Creates `{out}.{purpose}-{pid}` (emptied if a crashed run left it).
    pub fn create(out: &Path, purpose: &str) -> Result<Self, StagingError> {
        let path = sibling(out, purpose)?;
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        Ok(Self {
            path,
            published: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the staging directory to `out`. An existing `out` is an error unless `replace`:
    /// then it is moved aside first, put back if the rename fails, and removed once the new
    /// one is in place.
    pub fn publish(mut self, out: &Path, replace: bool) -> Result<(), StagingError> {
        if out.symlink_metadata().is_ok() {
            if !replace {
                return Err(StagingError::Exists(out.to_owned()));
            }
            let trash = sibling(out, "replaced")?;
            let _ = std::fs::remove_dir_all(&trash);
            std::fs::rename(out, &trash).map_err(io(out))?;
            if let Err(source) = std::fs::rename(&self.path, out) {
                let _ = std::fs::rename(&trash, out);
                return Err(StagingError::Io {
                    path: out.to_owned(),
                    source,
                });
            }
            self.published = true;
            if trash.is_dir() {
                let _ = std::fs::remove_dir_all(&trash);
            } else {
                let _ = std::fs::remove_file(&trash);
            }
        } else {
            std::fs::rename(&self.path, out).map_err(io(out))?;
            self.published = true;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
