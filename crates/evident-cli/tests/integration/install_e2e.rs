//! evident as a user gets it: `cargo install` into a temporary prefix, then run from a folder
//! outside the repository against the cluster named only by `KUBECONFIG` (no `--kubeconfig`,
//! no `~/.kube/config`, no checkout around it): a copied scenario folder, and the built-in
//! lesson-1 scenario by name.
//!
//! The install builds with `--debug` into the target folder this test was built in, so it
//! reuses the workspace's dev artifacts (evident-cli's dependencies resolve to the same
//! features alone as in the workspace) instead of a cold release build of DataFusion.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use evident_e2e::{TEST_NAMESPACES, client, delete_namespaces, exclusive, kubeconfig, repo_root};

/// `cargo install --path crates/evident-cli --debug --locked --root <root>`, into the target
/// folder of this test's own build. Returns the installed binary.
fn install(root: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // <target>/debug/evident: the target folder the workspace's dev artifacts are in.
    let built = Path::new(env!("CARGO_BIN_EXE_evident"));
    let target = built.parent().and_then(Path::parent).context("the evident binary is in <target>/<profile>/")?;
    let started = Instant::now();
    let mut command = Command::new(cargo);
    // Cargo sets these for this test only. A build script watching one of them
    // (rerun-if-env-changed, e.g. ring's CARGO_MANIFEST_DIR) would otherwise see it change and
    // make the nested build rebuild half the graph, then the next `cargo test` rebuild it back.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_BIN_", "CARGO_CRATE_", "CARGO_TARGET_TMPDIR"]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        if set_for_tests || name == "CARGO_PRIMARY_PACKAGE" || name == "OUT_DIR" {
            command.env_remove(name.as_ref());
        }
    }
    let output = command
        .args(["install", "--debug", "--locked", "--offline", "--quiet", "--path"])
        .arg(repo_root().join("crates/evident-cli"))
        .arg("--root")
        .arg(root)
        .arg("--target-dir")
        .arg(target)
        .output()
        .context("running cargo install")?;
    ensure!(output.status.success(), "cargo install failed:\n{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("cargo install --debug took {:.1}s", started.elapsed().as_secs_f64());
    let binary = root.join("bin/evident");
    ensure!(binary.is_file(), "cargo install put no {}", binary.display());
    Ok(binary)
}

/// Copies the files under `from` into `to`, folders included.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The installed evident, run in `cwd` as a user there runs it: the cluster named only by
/// `KUBECONFIG`, a home without a kube config, the queries built into the binary.
fn installed(binary: &Path, cwd: &Path, home: &Path, kubeconfig: &Path, args: &[&str]) -> anyhow::Result<Output> {
    Command::new(binary)
        .args(args)
        .current_dir(cwd)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env_remove("EVIDENT_QUERIES")
        .env("EVIDENT_LOG", "error")
        .output()
        .context("running the installed evident")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_evident_runs_scenarios_outside_the_repository_on_the_kubeconfig_cluster() -> anyhow::Result<()> {
    let prefix = tempfile::tempdir()?;
    let binary = install(prefix.path())?;
    let work = tempfile::tempdir()?;
    ensure!(!work.path().starts_with(repo_root()), "the work folder is outside the repository");
    let home = work.path().join("home");
    std::fs::create_dir(&home)?;
    // A user's own folder: the repository's scenario folder, copied (paths relative to the spec).
    copy_tree(&repo_root().join("manifests"), &work.path().join("my-course"))?;

    let _guard = exclusive().await;
    let client = client().await?;
    delete_namespaces(&client, TEST_NAMESPACES, Duration::from_secs(120)).await?;
    let kubeconfig = kubeconfig()?;

    let args = ["run", "my-course/scenarios/lesson1.yaml", "--out", "runs", "--run-id", "copied", "--quiet"];
    let run = installed(&binary, work.path(), &home, &kubeconfig, &args)?;
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    ensure!(run.status.code() == Some(0), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", run.status);
    assert!(stdout.contains("6 passed, 0 failed; report: runs/copied/report.md"), "{stdout}");
    let report = std::fs::read_to_string(work.path().join("runs/copied/report.md"))?;
    assert!(report.contains("**Result: PASS**"), "{report}");
    assert!(report.contains("| Evidence directory | runs/copied/ |"), "the --out folder is named:\n{report}");
    assert!(!work.path().join("evidence").exists(), "nothing written outside --out");

    // The built-in scenario by name, fleet and workloads included, from an empty folder.
    let empty = work.path().join("elsewhere");
    std::fs::create_dir(&empty)?;
    let out = work.path().join("builtin-runs");
    let out_arg = out.to_str().context("a UTF-8 temporary path")?;
    let args = ["run", "lesson1", "--out", out_arg, "--run-id", "builtin", "--quiet"];
    let run = installed(&binary, &empty, &home, &kubeconfig, &args)?;
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    ensure!(run.status.code() == Some(0), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", run.status);
    assert_eq!(stdout.lines().filter(|line| line.starts_with("PASS")).count(), 4, "{stdout}");
    assert!(out.join("builtin/report.md").is_file() && out.join("builtin/junit.xml").is_file());
    assert_eq!(std::fs::read_dir(&empty)?.count(), 0, "the working folder is left as it was");
    Ok(())
}
