//! Named queries: `queries/<name>.sql`, one metric each, whose first line is
//! `-- <one-line description>`.
//!
//! The files are embedded into the binary at build time, so an installed `evident` has them
//! anywhere; a `queries/` folder on disk takes precedence, file by file. The folder is
//! `$EVIDENT_QUERIES` when set, else the first `queries/` found from the working directory
//! upward. Subfolders (`queries/duckdb/`, `queries/expected/`) are not named queries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Environment variable naming the queries folder.
pub const QUERIES_ENV: &str = "EVIDENT_QUERIES";
/// Name of the queries folder looked up from the working directory upward.
pub const QUERIES_DIR: &str = "queries";

/// The named queries compiled into the binary, `(name, text)`.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("fleet", include_str!("../../../queries/fleet.sql")),
    ("gpu_allocation", include_str!("../../../queries/gpu_allocation.sql")),
    ("gpu_metrics", include_str!("../../../queries/gpu_metrics.sql")),
    ("namespace_totals", include_str!("../../../queries/namespace_totals.sql")),
    ("node_version_stamping", include_str!("../../../queries/node_version_stamping.sql")),
    ("pending_causes", include_str!("../../../queries/pending_causes.sql")),
    ("placement", include_str!("../../../queries/placement.sql")),
    ("pod_latency", include_str!("../../../queries/pod_latency.sql")),
    ("queue_pressure", include_str!("../../../queries/queue_pressure.sql")),
];

/// Why a named query could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum NamedQueryError {
    /// No file and no embedded query has this name.
    #[error("no named query '{name}' (see `evident query --list`)")]
    Unknown { name: String },
    /// The file does not start with `-- <description>`.
    #[error("named query {origin} must start with a `-- <one-line description>` line")]
    NoDescription { origin: String },
    /// Reading the folder or a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `$EVIDENT_QUERIES` names something that is not a folder.
    #[error("{QUERIES_ENV}={path} is not a directory")]
    BadEnv { path: PathBuf },
}

pub type Result<T, E = NamedQueryError> = std::result::Result<T, E>;

/// Where a named query's text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOrigin {
    Disk(PathBuf),
    Embedded,
}

/// A named query: its name (the file stem), description (first comment line) and SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQuery {
    pub name: String,
    pub description: String,
    pub sql: String,
    pub origin: QueryOrigin,
}

impl NamedQuery {
    /// Reads the description from the first line, `-- <description>`.
    pub fn parse(name: &str, text: &str, origin: QueryOrigin) -> Result<NamedQuery> {
        let description =
            text.lines().next().and_then(|line| line.strip_prefix("--")).map(str::trim).unwrap_or_default();
        if description.is_empty() {
            let origin = match &origin {
                QueryOrigin::Disk(path) => path.display().to_string(),
                QueryOrigin::Embedded => format!("'{name}' (embedded)"),
            };
            return Err(NamedQueryError::NoDescription { origin });
        }
        Ok(NamedQuery { name: name.to_string(), description: description.to_string(), sql: text.to_string(), origin })
    }

    /// The `*.sql` files directly in `dir`, sorted by name.
    pub fn load_dir(dir: &Path) -> Result<Vec<NamedQuery>> {
        let io_error = |source| NamedQueryError::Io { path: dir.to_path_buf(), source };
        let mut queries = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            if path.extension().is_some_and(|ext| ext == "sql") && path.is_file() {
                let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| NamedQueryError::Io { path: path.clone(), source })?;
                queries.push(NamedQuery::parse(&name, &text, QueryOrigin::Disk(path))?);
            }
        }
        queries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(queries)
    }

    /// The queries compiled into the binary.
    pub fn embedded() -> Vec<NamedQuery> {
        EMBEDDED
            .iter()
            .map(|(name, text)| {
                NamedQuery::parse(name, text, QueryOrigin::Embedded).expect("embedded queries are checked by tests")
            })
            .collect()
    }

    /// The embedded queries, overridden and extended by the queries folder if one is found.
    pub fn available() -> Result<Vec<NamedQuery>> {
        let mut by_name: BTreeMap<String, NamedQuery> =
            NamedQuery::embedded().into_iter().map(|query| (query.name.clone(), query)).collect();
        if let Some(dir) = queries_dir()? {
            for query in NamedQuery::load_dir(&dir)? {
                by_name.insert(query.name.clone(), query);
            }
        }
        Ok(by_name.into_values().collect())
    }
}

/// One named query by name (see [`NamedQuery::available`]).
pub fn named_query(name: &str) -> Result<NamedQuery> {
    NamedQuery::available()?
        .into_iter()
        .find(|query| query.name == name)
        .ok_or_else(|| NamedQueryError::Unknown { name: name.to_string() })
}

/// The queries folder: `$EVIDENT_QUERIES`, else `queries/` from the working directory upward.
pub fn queries_dir() -> Result<Option<PathBuf>> {
    if let Some(dir) = std::env::var_os(QUERIES_ENV).filter(|value| !value.is_empty()) {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() { Ok(Some(dir)) } else { Err(NamedQueryError::BadEnv { path: dir }) };
    }
    let cwd = std::env::current_dir().map_err(|source| NamedQueryError::Io { path: PathBuf::from("."), source })?;
    Ok(crate::run_set::find_upward(&cwd, QUERIES_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_queries() -> PathBuf {
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo")).join("../../queries")
    }

    #[test]
    fn embedded_queries_match_the_folder() {
        let on_disk = NamedQuery::load_dir(&repo_queries()).unwrap();
        let embedded = NamedQuery::embedded();
        let names = |queries: &[NamedQuery]| queries.iter().map(|q| q.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&on_disk), names(&embedded), "every queries/*.sql is listed in EMBEDDED");
        for (disk, built_in) in on_disk.iter().zip(&embedded) {
            assert_eq!(disk.sql, built_in.sql, "{} is embedded as it is on disk", disk.name);
        }
    }

    #[test]
    fn description_is_the_first_comment_line() {
        let query = NamedQuery::parse("q", "-- GPUs per node.\nSELECT 1", QueryOrigin::Embedded).unwrap();
        assert_eq!(query.description, "GPUs per node.");
        assert!(NamedQuery::parse("q", "SELECT 1\n-- late", QueryOrigin::Embedded).is_err());
        assert!(NamedQuery::parse("q", "--\nSELECT 1", QueryOrigin::Embedded).is_err());
    }
}
