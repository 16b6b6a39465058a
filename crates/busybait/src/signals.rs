//! The signals a long-running command answers: SIGTERM and SIGINT stop it, SIGHUP
//! is logged and otherwise ignored.

use anyhow::Context;

/// The signals the sensor answers. SIGTERM and SIGINT stop it; SIGHUP
/// (`systemctl reload`) does not: the log is standard error (the journal under
/// systemd), which needs no reopening, and the event log is reopened at each
/// rotation anyway; the line it logs says that configuration changes take a restart.
pub(crate) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing SIGHUP handler")?,
        })
    }

    /// Until SIGTERM or SIGINT.
    pub(crate) async fn wait(mut self) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => tracing::info!(
                    "SIGHUP: logs go to standard error and need no reopening; the configuration is read at start (restart to change it)"
                ),
            }
        }
    }
}
