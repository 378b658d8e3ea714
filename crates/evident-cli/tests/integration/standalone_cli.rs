//! evident as a standalone tool, without a cluster: what `--help`, `--version`, completions and
//! the man page say; the built-in scenarios (`evident scenarios`, `evident init`, `evident run
//! <name>`); cluster selection that never falls back to the local control plane; `evident
//! report --out`; logs without colour off a terminal.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use crate::evident_at;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// evident in `cwd` with `HOME` set to `home` (no `~/.kube/config`) and `KUBECONFIG` as given
/// (`None`: unset), as a user without a cluster runs it.
fn evident_without_cluster<S: AsRef<OsStr>>(args: &[S], cwd: &Path, home: &Path, kubeconfig: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_evident"));
    command
        .args(args)
        .current_dir(cwd)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("EVIDENT_QUERIES")
        .env("EVIDENT_LOG", "error");
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    command.output().expect("the evident binary runs")
}

fn repo() -> std::path::PathBuf {
    evident_e2e::repo_root()
}

#[test]
fn help_says_what_evident_does_and_version_names_the_formats() {
    let dir = tempfile::tempdir().unwrap();
    let help = evident_at(&["--help"], dir.path());
    let stdout = text(&help.stdout);
    assert!(help.status.success());
    assert!(stdout.starts_with("Records what a Kubernetes cluster does during scheduling experiments"), "{stdout}");
    for command in ["scenarios", "init", "completions", "man", "run", "report"] {
        assert!(stdout.contains(&format!("\n  {command} ")), "--help lists {command}:\n{stdout}");
    }
    let version = text(&evident_at(&["--version"], dir.path()).stdout);
    assert!(version.starts_with(&format!("evident {} (", env!("CARGO_PKG_VERSION"))), "{version}");
    assert!(version.contains("change-log schema evident-changelog-v1"), "{version}");
    assert!(version.contains("metrics schema evident-metrics-v1"), "{version}");
    assert!(version.contains("redaction policy redact-v2"), "{version}");
    assert_eq!(version.lines().count(), 1, "{version}");
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef evident"), ("fish", "complete -c evident")] {
        let output = evident_at(&["completions", shell], dir.path());
        let script = text(&output.stdout);
        assert!(output.status.success(), "{shell}: {}", text(&output.stderr));
        assert!(script.contains(marker), "{shell} script:\n{script}");
        // Subcommands and their flags are in it.
        assert!(script.contains("scenarios") && script.contains("replace-namespaces"), "{shell} script");
    }
    let bad = evident_at(&["completions", "tcsh"], dir.path());
    assert_eq!(bad.status.code(), Some(2));

    let man = evident_at(&["man"], dir.path());
    let page = text(&man.stdout);
    assert!(man.status.success(), "{}", text(&man.stderr));
    assert!(page.contains("\n.TH evident 1 "), "a roff man page of section 1:\n{page}");
    assert!(page.contains("Records what a Kubernetes cluster does"), "{page}");
    assert!(page.contains("completions"), "subcommands listed:\n{page}");
}

#[test]
fn scenarios_lists_the_built_in_ones_and_init_writes_a_folder_once() {
    let dir = tempfile::tempdir().unwrap();
    let listed = evident_at(&["scenarios"], dir.path());
    let stdout = text(&listed.stdout);
    assert!(listed.status.success());
    let lesson1 = stdout.lines().find(|line| line.starts_with("lesson1 ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(lesson1.contains("Local Simulation Validation Report - Lesson 1"), "{lesson1}");

    let init = evident_at(&["init", "starter"], dir.path());
    assert!(init.status.success(), "{}", text(&init.stderr));
    let starter = dir.path().join("starter");
    for file in ["scenarios/lesson1.yaml", "fleet/10-gpu-nodes.yaml", "workloads/40-queue-pressure.yaml"] {
        let written = std::fs::read(starter.join(file)).unwrap();
        assert_eq!(written, std::fs::read(repo().join("manifests").join(file)).unwrap(), "{file}");
    }
    assert!(text(&init.stderr).contains("evident run starter/scenarios/lesson1.yaml"), "{}", text(&init.stderr));
    // The written spec is valid where it is: `evident report --scenario` reads its fleet.
    let spec = starter.join("scenarios/lesson1.yaml");
    std::fs::write(&spec, "# edited\n").unwrap();
    let again = evident_at(&["init", "starter"], dir.path());
    let stderr = text(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: starter is not empty"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&spec).unwrap(), "# edited\n", "nothing overwritten");
}

#[test]
fn an_unknown_scenario_is_one_line_naming_the_built_in_ones() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    for (scenario, expected) in [
        (
            "lesson9",
            "error: scenario lesson9: no such file, and no built-in scenario named \"lesson9\" (built in: lesson1",
        ),
        ("my/l2.yaml", "error: scenario spec my/l2.yaml not found"),
    ] {
        let output = evident_without_cluster(&["run", scenario], dir.path(), home, None);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(expected), "{stderr}");
    }
}

/// Without a cluster, `evident run` says how to get one in one line, and never starts the
/// local control plane, not even inside the checkout (that takes `--local`).
#[test]
fn without_a_cluster_run_says_how_to_get_one_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let out = dir.path().join("out");
    let out_arg = out.to_str().unwrap();
    // No kubeconfig anywhere, run from the checkout's root, where hack/cluster.sh is.
    let args = ["run", "manifests/scenarios/lesson1.yaml", "--out", out_arg, "--quiet"];
    let output = evident_without_cluster(&args, &repo(), &home, None);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
    assert!(stderr.starts_with("error: no cluster configured"), "{stderr}");
    assert!(stderr.contains("kind create cluster") && stderr.contains("--kubeconfig"), "{stderr}");
    assert!(stderr.contains("make cluster-up"), "{stderr}");

    // KUBECONFIG names a cluster that does not answer.
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster: {server: 'https://127.0.0.1:1'}\n\
         contexts:\n- name: gone\n  context: {cluster: gone, user: me}\nusers:\n- name: me\n  user: {token: not-a-secret}\n",
    )
    .unwrap();
    let output =
        evident_without_cluster(&["run", "lesson1", "--out", out_arg, "--quiet"], dir.path(), &home, Some(&kubeconfig));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
    assert!(stderr.starts_with("error: no cluster reachable: the API server at https://127.0.0.1:1"), "{stderr}");
    assert!(stderr.contains("context \"gone\"") && stderr.contains("kind create cluster"), "{stderr}");
    assert!(!stderr.contains("not-a-secret"), "{stderr}");
    assert!(!out.exists(), "nothing recorded");

    // KUBECONFIG as a list of files, merged as kubectl merges them: the context in one file,
    // its cluster and user in another.
    let contexts = dir.path().join("contexts.yaml");
    let clusters = dir.path().join("clusters.yaml");
    std::fs::write(
        &contexts,
        "apiVersion: v1\nkind: Config\ncurrent-context: split\ncontexts:\n- name: split\n  context: {cluster: far, user: me}\n",
    )
    .unwrap();
    std::fs::write(
        &clusters,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: far\n  cluster: {server: 'https://127.0.0.1:2'}\n\
         users:\n- name: me\n  user: {token: not-a-secret}\n",
    )
    .unwrap();
    let list = std::env::join_paths([&contexts, &clusters]).unwrap();
    let output =
        evident_without_cluster(&["run", "lesson1", "--out", out_arg], dir.path(), &home, Some(Path::new(&list)));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: no cluster reachable: the API server at https://127.0.0.1:2 (context \"split\")"),
        "{stderr}"
    );

    // --local outside a checkout.
    let output = evident_without_cluster(&["run", "lesson1", "--local", "--out", out_arg], dir.path(), &home, None);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
    assert!(stderr.starts_with("error: --local needs an evident checkout"), "{stderr}");
}

/// `evident report <run> --out <dir>`: the report goes to <dir> and says so; the run's own
/// report is left as it was.
#[test]
fn report_out_writes_elsewhere_and_names_that_folder() {
    let dir = tempfile::tempdir().unwrap();
    let sample = repo().join("evidence/sample");
    let before = std::fs::read(sample.join("report.md")).unwrap();
    let output = evident_at(&["report", sample.to_str().unwrap(), "--out", "elsewhere"], dir.path());
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("report: elsewhere/report.md"), "{stdout}");
    let report = std::fs::read_to_string(dir.path().join("elsewhere/report.md")).unwrap();
    assert!(report.contains("| Evidence directory | elsewhere/ |"), "{report}");
    let html = std::fs::read_to_string(dir.path().join("elsewhere/report.html")).unwrap();
    assert!(html.contains("<td>Evidence directory</td><td>elsewhere/</td>"));
    for file in ["junit.xml", "pods-gpu-demo.txt", "describe-pod-gpu-demo_cuda-train-16gpu.txt"] {
        assert!(dir.path().join("elsewhere").join(file).is_file(), "{file}");
    }
    assert_eq!(std::fs::read(sample.join("report.md")).unwrap(), before, "the run's report is untouched");
}

/// Logs carry no colour codes off a terminal, and on a terminal only without NO_COLOR.
#[test]
fn logs_are_coloured_only_on_a_terminal_without_no_color() {
    let dir = tempfile::tempdir().unwrap();
    // A spec naming an evidence file the report does not write: the report warns in the log.
    let spec = std::fs::read_to_string(repo().join("evidence/sample/scenario.yaml")).unwrap();
    let warned = spec.replacen("- pods-gpu-demo.txt", "- pods-elsewhere.txt", 1);
    assert_ne!(warned, spec, "the sample spec names pods-gpu-demo.txt");
    std::fs::write(dir.path().join("spec.yaml"), warned).unwrap();
    let sample = repo().join("evidence/sample");
    let args = ["--log", "warn", "report", sample.to_str().unwrap(), "--scenario", "spec.yaml", "--out", "out"];
    let piped = evident_at(&args, dir.path());
    let stderr = text(&piped.stderr);
    let warning = stderr.lines().find(|line| line.contains("was not produced")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(warning.contains("WARN") && !stderr.contains('\u{1b}'), "plain text on a pipe: {stderr:?}");

    // On a terminal (script(1) gives the command one), coloured unless NO_COLOR is set.
    let Ok(script) = which("script") else {
        return evident_testkit::skip::skip(
            "standalone_cli::logs_are_coloured_only_on_a_terminal_without_no_color",
            "script(1) (util-linux) is not installed: the terminal case is not checked",
        );
    };
    let command = format!(
        "{} {}",
        env!("CARGO_BIN_EXE_evident"),
        args.iter().map(|arg| format!("'{arg}'")).collect::<Vec<_>>().join(" ")
    );
    let on_terminal = |no_color: Option<&str>| {
        let mut run = Command::new(&script);
        run.args(["-qec", &command, "/dev/null"]).current_dir(dir.path()).env_remove("EVIDENT_QUERIES");
        match no_color {
            Some(value) => run.env("NO_COLOR", value),
            None => run.env_remove("NO_COLOR"),
        };
        text(&run.output().expect("script runs").stdout)
    };
    let coloured = on_terminal(None);
    assert!(coloured.contains("was not produced") && coloured.contains('\u{1b}'), "coloured: {coloured:?}");
    let plain = on_terminal(Some("1"));
    assert!(plain.contains("was not produced") && !plain.contains("\u{1b}["), "NO_COLOR: {plain:?}");
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
