//! Connecting to a cluster the way kubectl does, and describing it without credentials.
//!
//! The cluster is the one kubectl would use: `--kubeconfig`, else `$KUBECONFIG` (a list of
//! files, merged as kubectl merges them), else `~/.kube/config`, else the in-cluster service
//! account; `--context` picks a context. Nothing is started here: when no cluster answers,
//! the error says how to get one ([`GET_A_CLUSTER`]).

use std::path::Path;

use anyhow::Context as _;
use evident_core::run_manifest::ClusterInfo;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// How to get a cluster, the end of every "no cluster" error.
pub const GET_A_CLUSTER: &str = "to get one: `kind create cluster` or `kwokctl create cluster`, then pass \
     --kubeconfig <file> or set KUBECONFIG; in an evident checkout, `make cluster-up` (or `evident run --local`)";

/// Builds a client from `--kubeconfig`/`--context` (else `$KUBECONFIG`, else `~/.kube/config`,
/// else in-cluster) and reads the server version.
pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> anyhow::Result<(Client, ClusterInfo)> {
    let options = KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
    let (config, context_name) = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}; pass --kubeconfig <file>", path.display()))?;
            let name = context.map(str::to_string).or_else(|| file.current_context.clone()).unwrap_or_default();
            let config = Config::from_custom_kubeconfig(file, &options)
                .await
                .with_context(|| format!("kubeconfig {} has no usable context {name:?}", path.display()))?;
            (config, name)
        }
        None => {
            let config = match context {
                Some(name) => Config::from_kubeconfig(&options).await.map_err(|error| {
                    anyhow::anyhow!("cannot use kube context {name:?}: {}", crate::log::error_line(&error))
                })?,
                None => Config::infer().await.map_err(|error| {
                    anyhow::anyhow!(
                        "no cluster configured (no --kubeconfig, KUBECONFIG or ~/.kube/config: {}); {GET_A_CLUSTER}",
                        crate::log::error_line(&error)
                    )
                })?,
            };
            let name = context
                .map(str::to_string)
                .or_else(|| Kubeconfig::read().ok().and_then(|k| k.current_context))
                .unwrap_or_default();
            (config, name)
        }
    };
    let server = config.cluster_url.host().map(|host| match config.cluster_url.port_u16() {
        Some(port) => format!("{}://{host}:{port}", config.cluster_url.scheme_str().unwrap_or("https")),
        None => format!("{}://{host}", config.cluster_url.scheme_str().unwrap_or("https")),
    });
    let client = Client::try_from(config).context("cannot build a Kubernetes client")?;
    let version = client.apiserver_version().await.map_err(|error| {
        anyhow::anyhow!(
            "no cluster reachable: the API server at {} (context {context_name:?}) does not answer: {}; {GET_A_CLUSTER}",
            server.clone().unwrap_or_default(),
            crate::log::error_line(&error)
        )
    })?;
    let info = ClusterInfo {
        context: context_name,
        server: server.unwrap_or_default(),
        server_version: version.git_version,
        platform: version.platform,
        kwok_version: String::new(),
    };
    Ok((client, info))
}
