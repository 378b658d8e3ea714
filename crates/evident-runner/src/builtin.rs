//! The scenarios built into evident: the repository's `manifests/` tree (scenario specs under
//! `scenarios/`, and the fleets and workloads they name) embedded in the binary at build time,
//! so an installed `evident` runs `evident run lesson1` without a checkout, lists what it has
//! (`evident scenarios`) and writes it out as a starter folder to edit (`evident init`).
//!
//! The whole folder is embedded, whatever it holds: a file added under `manifests/` is built in
//! at the next build without a code change (the build script makes cargo rebuild this crate
//! when anything in the folder changes). A built-in scenario is named by its spec's file name
//! without `.yaml`. Its paths are relative to its spec file, as any spec's are, so it runs from
//! a copy of the tree written to a temporary folder ([`extract`]), exactly as from the
//! repository.
//!
//! Nothing here overwrites a file: the tree is written only into a new or empty folder.

use std::path::{Path, PathBuf};

use evident_report::Scenario;
use include_dir::{Dir, DirEntry, include_dir};

static MANIFESTS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../manifests");

/// The folder of the tree that holds the scenario specs.
const SCENARIOS: &str = "scenarios";

/// Errors of listing, extracting and writing out the built-in scenarios.
#[derive(Debug, thiserror::Error)]
pub enum BuiltinError {
    /// No built-in scenario has this name.
    #[error("no built-in scenario named {name:?} (built in: {}; see `evident scenarios`)", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
    /// The folder to write into exists and holds something.
    #[error("{} is not empty; the scenario folder is written only into a new or empty folder", dir.display())]
    NotEmpty { dir: PathBuf },
    /// A folder or file could not be created or written.
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = BuiltinError> = std::result::Result<T, E>;

/// One built-in scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinScenario {
    /// The spec's file name without `.yaml`: what `evident run <name>` takes.
    pub name: String,
    /// The spec's path in the tree, e.g. `scenarios/lesson1.yaml`.
    pub spec: PathBuf,
    /// The spec's `title`, or why the spec does not parse.
    pub title: String,
}

/// Every built-in scenario, by name.
pub fn scenarios() -> Vec<BuiltinScenario> {
    let Some(dir) = MANIFESTS.get_dir(SCENARIOS) else { return Vec::new() };
    let mut found: Vec<BuiltinScenario> = dir
        .files()
        .filter_map(|file| {
            let path = file.path();
            let is_spec = path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml");
            let name = path.file_stem()?.to_str()?.to_string();
            if !is_spec {
                return None;
            }
            // Manifests are not on disk here: only the spec itself is parsed.
            let title = match Scenario::parse(file.contents_utf8().unwrap_or_default(), &name, None) {
                Ok(scenario) => scenario.title,
                Err(error) => format!("(invalid: {error})"),
            };
            Some(BuiltinScenario { name, spec: path.to_path_buf(), title })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The built-in scenario called `name`.
pub fn find(name: &str) -> Result<BuiltinScenario> {
    let all = scenarios();
    all.iter().find(|scenario| scenario.name == name).cloned().ok_or_else(|| BuiltinError::Unknown {
        name: name.to_string(),
        known: all.into_iter().map(|scenario| scenario.name).collect(),
    })
}

/// A copy of the built-in tree in a temporary folder, deleted when dropped.
#[derive(Debug)]
pub struct Extracted {
    dir: tempfile::TempDir,
    spec: PathBuf,
}

impl Extracted {
    /// The scenario's spec file in the copy.
    pub fn spec(&self) -> &Path {
        &self.spec
    }

    /// The copy's root folder.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// Writes the built-in tree into a new temporary folder, for running the built-in scenario
/// `name` from its spec file there.
pub fn extract(name: &str) -> Result<Extracted> {
    let scenario = find(name)?;
    let temp = std::env::temp_dir();
    let dir = tempfile::Builder::new()
        .prefix("evident-builtin-")
        .tempdir()
        .map_err(|source| BuiltinError::Write { path: temp, source })?;
    write_tree(dir.path())?;
    let spec = dir.path().join(&scenario.spec);
    Ok(Extracted { dir, spec })
}

/// Writes the built-in tree into `dir` (created when missing; refused unless empty) and returns
/// the files written, relative to `dir`, in name order.
pub fn write_tree(dir: &Path) -> Result<Vec<PathBuf>> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuiltinError::Write { path, source }
    };
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(write_error(dir))?;
            true
        }
        Err(source) => return Err(BuiltinError::Write { path: dir.to_path_buf(), source }),
    };
    if !empty {
        return Err(BuiltinError::NotEmpty { dir: dir.to_path_buf() });
    }
    let mut written = Vec::new();
    let mut pending: Vec<&Dir<'static>> = vec![&MANIFESTS];
    while let Some(folder) = pending.pop() {
        for entry in folder.entries() {
            let target = dir.join(entry.path());
            match entry {
                DirEntry::Dir(sub) => {
                    std::fs::create_dir_all(&target).map_err(write_error(&target))?;
                    pending.push(sub);
                }
                DirEntry::File(file) => {
                    // create_new: never replaces a file, whatever raced this folder.
                    let mut out = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&target)
                        .map_err(write_error(&target))?;
                    std::io::Write::write_all(&mut out, file.contents()).map_err(write_error(&target))?;
                    written.push(file.path().to_path_buf());
                }
            }
        }
    }
    written.sort();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's manifests folder, read from disk: the oracle for what is embedded.
    fn repository_manifests() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
    }

    fn files_under(root: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    found.push(path.strip_prefix(root).unwrap().to_path_buf());
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn the_whole_manifests_folder_is_embedded_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_tree(&dir.path().join("starter")).unwrap();
        let expected = files_under(&repository_manifests());
        assert_eq!(written, expected);
        for file in &expected {
            let original = std::fs::read(repository_manifests().join(file)).unwrap();
            assert_eq!(std::fs::read(dir.path().join("starter").join(file)).unwrap(), original, "{}", file.display());
        }
        assert!(written.contains(&PathBuf::from("scenarios/lesson1.yaml")), "{written:?}");
    }

    #[test]
    fn every_built_in_scenario_loads_from_its_extracted_copy_with_its_manifests() {
        let all = scenarios();
        assert!(all.iter().any(|scenario| scenario.name == "lesson1"), "{all:?}");
        for scenario in all {
            let extracted = extract(&scenario.name).unwrap();
            let loaded = Scenario::load(extracted.spec())
                .unwrap_or_else(|error| panic!("built-in {}: {}", scenario.name, error.lines().join("; ")));
            assert_eq!(loaded.title, scenario.title);
            assert!(!loaded.fleet_nodes.is_empty() || loaded.fleet.is_empty(), "{}: fleet read", scenario.name);
        }
        let root = extract("lesson1").unwrap().root().to_path_buf();
        assert!(!root.exists(), "the temporary copy is deleted with its handle");
    }

    #[test]
    fn an_unknown_name_lists_the_built_in_ones() {
        let error = find("lesson9").unwrap_err();
        assert!(matches!(&error, BuiltinError::Unknown { known, .. } if known.contains(&"lesson1".to_string())));
        assert!(error.to_string().contains("built in: lesson1"), "{error}");
    }

    #[test]
    fn the_tree_is_written_only_into_a_new_or_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path()).unwrap();
        let spec = dir.path().join("scenarios/lesson1.yaml");
        std::fs::write(&spec, "edited").unwrap();
        let error = write_tree(dir.path()).unwrap_err();
        assert!(matches!(error, BuiltinError::NotEmpty { .. }), "{error}");
        assert_eq!(std::fs::read_to_string(&spec).unwrap(), "edited", "nothing overwritten");
    }
}
