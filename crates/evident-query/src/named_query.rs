//! Named queries: `queries/<name>.sql`, one metric each, whose first line is
//! `-- <one-line description>`.
//!
//! The files are embedded into the binary at build time, so an installed `evident` has them
//! anywhere, and what a report or `evident query -f <name>` runs does not depend on the
//! working directory: a stray `queries/fleet.sql` there changes nothing. Only a folder given
//! explicitly ([`QuerySet::with_dir`]: `--queries <dir>`, or `$EVIDENT_QUERIES` through the
//! same flag) replaces embedded queries, file by file, and [`QuerySet::overridden`] says which,
//! so a report can say so. Subfolders (`queries/duckdb/`, `queries/expected/`) are not named
//! queries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Environment variable the `--queries` flag of the CLI reads when the flag is not given.
pub const QUERIES_ENV: &str = "EVIDENT_QUERIES";

/// The named queries compiled into the binary, `(name, text)`.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("fleet", include_str!("../../../queries/fleet.sql")),
    ("gpu_allocation", include_str!("../../../queries/gpu_allocation.sql")),
    ("gpu_capacity_timeline", include_str!("../../../queries/gpu_capacity_timeline.sql")),
    ("gpu_metrics", include_str!("../../../queries/gpu_metrics.sql")),
    ("namespace_totals", include_str!("../../../queries/namespace_totals.sql")),
    ("node_version_stamping", include_str!("../../../queries/node_version_stamping.sql")),
    ("pending_causes", include_str!("../../../queries/pending_causes.sql")),
    ("pending_classification", include_str!("../../../queries/pending_classification.sql")),
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
    /// The queries folder given is not a folder.
    #[error("queries folder {path} is not a directory; pass a folder of <name>.sql files")]
    NotADirectory { path: PathBuf },
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

    /// The queries compiled into the binary (a test checks each has its description line, so
    /// none is ever left out).
    pub fn embedded() -> Vec<NamedQuery> {
        EMBEDDED.iter().filter_map(|(name, text)| NamedQuery::parse(name, text, QueryOrigin::Embedded).ok()).collect()
    }

    /// The queries compiled into the binary, by name (see [`QuerySet`] for an override folder).
    pub fn available() -> Result<Vec<NamedQuery>> {
        Ok(QuerySet::embedded().all().cloned().collect())
    }
}

/// One named query compiled into the binary, by name. The working directory plays no part.
pub fn named_query(name: &str) -> Result<NamedQuery> {
    QuerySet::embedded().get(name).cloned()
}

/// The named queries a command runs: the embedded ones, replaced and extended file by file by
/// an explicitly given folder, never by one found on disk by itself.
#[derive(Debug, Clone)]
pub struct QuerySet {
    by_name: BTreeMap<String, NamedQuery>,
    dir: Option<PathBuf>,
}

impl Default for QuerySet {
    /// [`QuerySet::embedded`].
    fn default() -> Self {
        QuerySet::embedded()
    }
}

impl QuerySet {
    /// The queries compiled into the binary.
    pub fn embedded() -> QuerySet {
        let by_name = NamedQuery::embedded().into_iter().map(|query| (query.name.clone(), query)).collect();
        QuerySet { by_name, dir: None }
    }

    /// The embedded queries with every `*.sql` directly in `dir` in place of the embedded one
    /// of its name (or added). `dir` must be a folder; every file must start with its
    /// `-- <description>` line.
    pub fn with_dir(dir: &Path) -> Result<QuerySet> {
        if !dir.is_dir() {
            return Err(NamedQueryError::NotADirectory { path: dir.to_path_buf() });
        }
        let mut set = QuerySet::embedded();
        for query in NamedQuery::load_dir(dir)? {
            set.by_name.insert(query.name.clone(), query);
        }
        set.dir = Some(dir.to_path_buf());
        Ok(set)
    }

    /// [`QuerySet::with_dir`] when a folder is given, else [`QuerySet::embedded`].
    pub fn from_option(dir: Option<&Path>) -> Result<QuerySet> {
        dir.map_or_else(|| Ok(QuerySet::embedded()), QuerySet::with_dir)
    }

    /// The query of this name.
    pub fn get(&self, name: &str) -> Result<&NamedQuery> {
        self.by_name.get(name).ok_or_else(|| NamedQueryError::Unknown { name: name.to_string() })
    }

    /// Every query, sorted by name.
    pub fn all(&self) -> impl Iterator<Item = &NamedQuery> {
        self.by_name.values()
    }

    /// The folder given to [`QuerySet::with_dir`], if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The queries read from that folder instead of the binary, sorted by name.
    pub fn overridden(&self) -> Vec<&NamedQuery> {
        self.all().filter(|query| matches!(query.origin, QueryOrigin::Disk(_))).collect()
    }
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
    fn every_embedded_query_parses() {
        assert_eq!(NamedQuery::embedded().len(), EMBEDDED.len(), "each embedded query has its description line");
    }

    #[test]
    fn only_a_given_folder_overrides_the_embedded_queries() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fleet.sql"), "-- stray fleet\nSELECT 1 AS x").unwrap();
        std::fs::write(dir.path().join("extra.sql"), "-- an extra query\nSELECT 2 AS y").unwrap();
        let embedded = QuerySet::embedded();
        assert_eq!(embedded.get("fleet").unwrap().origin, QueryOrigin::Embedded);
        assert!(embedded.overridden().is_empty() && embedded.dir().is_none());
        let set = QuerySet::with_dir(dir.path()).unwrap();
        assert_eq!(set.get("fleet").unwrap().sql, "-- stray fleet\nSELECT 1 AS x");
        let overridden: Vec<&str> = set.overridden().iter().map(|query| query.name.as_str()).collect();
        assert_eq!(overridden, ["extra", "fleet"]);
        assert_eq!(set.get("placement").unwrap().origin, QueryOrigin::Embedded);
        assert!(matches!(
            QuerySet::with_dir(&dir.path().join("fleet.sql")),
            Err(NamedQueryError::NotADirectory { .. })
        ));
    }

    #[test]
    fn description_is_the_first_comment_line() {
        let query = NamedQuery::parse("q", "-- GPUs per node.\nSELECT 1", QueryOrigin::Embedded).unwrap();
        assert_eq!(query.description, "GPUs per node.");
        assert!(NamedQuery::parse("q", "SELECT 1\n-- late", QueryOrigin::Embedded).is_err());
        assert!(NamedQuery::parse("q", "--\nSELECT 1", QueryOrigin::Embedded).is_err());
    }
}
