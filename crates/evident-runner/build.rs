//! The built-in scenarios embed the repository's `manifests/` folder (src/builtin.rs). The
//! embedding macro reads the files but cannot tell cargo that a *new* file makes the crate
//! stale; watching the folder here does (cargo scans a watched folder recursively).

fn main() {
    println!("cargo:rerun-if-changed=../../manifests");
    println!("cargo:rerun-if-changed=build.rs");
}
