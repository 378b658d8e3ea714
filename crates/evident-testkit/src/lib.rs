//! Test data for evident's tests, benches and committed sample run. Not published: every
//! crate that uses it has it as a dev-dependency only, so no shipped crate carries a
//! generator.
//!
//! Generators, for different needs:
//!
//! - [`objects`]: a stream of realistic API objects (Pods, Nodes, Events as a v1.36 API
//!   server serialises them) and nothing else. For tests and benches of the recorder's write
//!   path, which feed the objects to a `ChangeStore` themselves.
//! - [`runs`]: whole run directories (`run.json` and Parquet segments) of a scripted
//!   scenario (lesson 1, or a fleet scaled to millions of changes), written through the
//!   recorder's own `ChangeStore`, so a generated run is in exactly the recorder's format.
//!   For tests of everything that reads runs (queries, reports, the CLI) and for the
//!   committed sample `evidence/sample-synthetic/`.
//!
//! - [`plan`]: a run described entirely by its parameters ([`plan::Plan`], generated from a
//!   seed), written by [`runs::write_plan`], so that tests can work out what each named query
//!   must answer from the plan alone: oracles that share nothing with the SQL.
//! - [`gpu_pending`]: a crafted run whose refused GPU pods wait for each of the four reasons
//!   `pending_classification` tells apart (shape, fragmentation, capacity, constraint).
//! - [`skip`]: visible skips for tests that cannot run on a machine (no browser, no DuckDB).
//!
//! Invariant of the generators: deterministic. The same inputs give the same objects, and the
//! same run directory (fixed clock, fixed names, fixed ids): `run.json` byte for byte, each
//! Parquet segment the same rows, schema and footer metadata (whose order in the footer varies,
//! as in every file the recorder writes).

pub mod gpu_pending;
pub mod hostile;
pub mod objects;
pub mod plan;
pub mod runs;
pub mod skip;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// What this crate is for holds only while no shipped crate depends on it: every crate of
    /// the workspace names it, if at all, under `[dev-dependencies]`.
    #[test]
    fn only_dev_dependencies_name_the_testkit() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifests = std::fs::read_dir(&crates)
            .unwrap()
            .map(|entry| entry.unwrap().path().join("Cargo.toml"))
            .chain([crates.join("../tests/Cargo.toml")])
            .filter(|manifest| manifest.exists());
        let mut checked = 0;
        for manifest in manifests {
            let text = std::fs::read_to_string(&manifest).unwrap();
            let mut section = "";
            for line in text.lines().map(str::trim) {
                if line.starts_with('[') {
                    section = line;
                } else if line.starts_with("evident-testkit") {
                    assert_eq!(section, "[dev-dependencies]", "{} names the testkit", manifest.display());
                }
            }
            checked += 1;
        }
        assert!(checked >= 6, "the workspace's crates were found ({checked})");
    }
}
