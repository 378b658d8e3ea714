//! Connecting to a cluster the way kubectl does, and describing it without credentials.

use std::path::Path;

use anyhow::Context as _;
use evident_core::run_manifest::ClusterInfo;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

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
                Some(_) => Config::from_kubeconfig(&options).await.context("cannot load the kube context")?,
                None => Config::infer()
                    .await
                    .context("no cluster configured; pass --kubeconfig <file> or set KUBECONFIG")?,
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
    let version = client
        .apiserver_version()
        .await
        .with_context(|| format!("the API server at {} does not answer", server.clone().unwrap_or_default()))?;
    let info = ClusterInfo {
        context: context_name,
        server: server.unwrap_or_default(),
        server_version: version.git_version,
        platform: version.platform,
        kwok_version: String::new(),
    };
    Ok((client, info))
}
