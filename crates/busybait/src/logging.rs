//! Where the log goes and how it looks: standard error, plain text off a terminal,
//! and under systemd's journal (stderr is the stream `JOURNAL_STREAM` names) without
//! a timestamp of its own (the journal stamps every line) and with each line's
//! syslog priority in front (`<3>` error … `<7>` debug), so `journalctl -p warning`
//! filters by level.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Installs the process's logger (`BUSYBAIT_LOG` filters; `info` by default).
pub fn init() {
    let filter = EnvFilter::try_from_env("BUSYBAIT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter);
    if stderr_is_the_journal() {
        let format = tracing_subscriber::fmt::format().without_time();
        builder.event_format(Journal(format)).init();
    } else {
        builder.init();
    }
}

/// Whether standard error is the journal's stream: `JOURNAL_STREAM` is
/// `DEVICE:INODE` of the stream systemd connected, and a child that inherited the
/// variable but not the stream must not take it for the journal.
fn stderr_is_the_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// A line format with the syslog priority of its level in front.
struct Journal<F>(F);

impl<S, N, F> FormatEvent<S, N> for Journal<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// The syslog priority of a level.
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn journal_lines_carry_their_priority_and_no_time() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .event_format(Journal(tracing_subscriber::fmt::format().without_time()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(used = 5, "the data dir is full");
            tracing::info!("listening");
            tracing::error!("a sink stopped");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "<4> WARN busybait::logging::tests: the data dir is full used=5",
                "<6> INFO busybait::logging::tests: listening",
                "<3>ERROR busybait::logging::tests: a sink stopped",
            ]
        );
    }
}
