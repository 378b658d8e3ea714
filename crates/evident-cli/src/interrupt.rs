//! Ctrl-C or SIGTERM, as the future the libraries take to end a recording early.

/// Completes at the first Ctrl-C or SIGTERM. Handlers are installed when it is first polled,
/// not before (until then Ctrl-C ends the process as usual). If the Ctrl-C handler cannot be
/// installed it completes at once, so the recording stops rather than never answering.
pub async fn interrupted() {
    let mut sigterm = sigterm_stream();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = next_sigterm(&mut sigterm) => {}
    }
}

#[cfg(unix)]
fn sigterm_stream() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

#[cfg(unix)]
async fn next_sigterm(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
fn sigterm_stream() -> Option<()> {
    None
}

#[cfg(not(unix))]
async fn next_sigterm(_: &mut Option<()>) {
    std::future::pending().await
}
