//! The signals a long-running command answers: SIGTERM and SIGINT stop it, SIGHUP
//! reloads what can be reloaded.

use anyhow::Context;

/// The signals the sensor answers. SIGTERM and SIGINT stop it; SIGHUP
/// (`systemctl reload`) runs the caller's reload (`serve`: the `[retention]`
/// settings). The log is standard error (the journal under systemd), which needs no
/// reopening, and the event log is reopened at each rotation anyway.
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

    /// Until SIGTERM or SIGINT; `on_hangup` at each SIGHUP.
    pub(crate) async fn wait(mut self, mut on_hangup: impl FnMut()) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => on_hangup(),
            }
        }
    }
}
