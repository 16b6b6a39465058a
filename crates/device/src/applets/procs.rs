//! Processes: `ps`, `top`, `kill`, `killall`, `pidof`, `pkill`, `sleep`, `xargs`.

use std::time::Duration;

use crate::shell::exec::{Io, Run, Sh, Wait};

use super::*;

pub(super) async fn ps(sh: &mut Sh, io: &Io) -> i32 {
    let out = super::ps::render(sh);
    sh.write(&io.stdout, &out).await;
    0
}

/// The `kill` builtin (its errors are BusyBox kill's, named `sh`).
/// Signal names in number order, as `kill -l` lists them.
const SIGNALS: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "POLL", "PWR", "SYS",
];

/// `kill`: ash's builtin names itself `sh` in its errors, the applet (`/bin/busybox
/// kill`, `/bin/kill`) `kill`.
pub async fn kill(sh: &mut Sh, argv: &[Vec<u8>], io: &Io, who: &str) -> i32 {
    let operands: Vec<&Vec<u8>> = argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with(b"-"))
        .collect();
    if argv.get(1).is_some_and(|a| a == b"-l") {
        let list: String = SIGNALS
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{:2}) {name}\n", i + 1))
            .collect();
        sh.write(&io.stdout, list.as_bytes()).await;
        return 0;
    }
    if operands.is_empty() {
        err(sh, io, who, b"you need to specify whom to kill").await;
        return 1;
    }
    let mut status = 0;
    for op in operands {
        let pid = std::str::from_utf8(op)
            .ok()
            .and_then(|s| s.parse::<u32>().ok());
        match pid {
            Some(pid) if super::ps::exists(sh, pid) => {
                if pid != 1 && pid != sh.pid() {
                    sh.kill([pid]);
                }
            }
            Some(pid) => {
                err(
                    sh,
                    io,
                    who,
                    format!("can't kill pid {pid}: No such process").as_bytes(),
                )
                .await;
                status = 1;
            }
            // A job spec: ash's builtin knows no jobs (none run in the background).
            None if op.starts_with(b"%") && who != "kill" => {
                let mut m = b"kill: ".to_vec();
                m.extend_from_slice(op);
                m.extend_from_slice(b": no such job");
                sh.shell_error(io, &m).await;
                status = 1;
            }
            None => {
                let mut m = b"invalid number '".to_vec();
                m.extend_from_slice(op);
                m.push(b'\'');
                err(sh, io, who, &m).await;
                status = 1;
            }
        }
    }
    status
}

/// `killall`.
pub(super) async fn killall(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut status = 0;
    for name in argv.iter().skip(1).filter(|a| !a.starts_with(b"-")) {
        if !super::ps::kill_by_name(sh, name) {
            let mut m = name.clone();
            m.extend_from_slice(b": no process killed");
            err(sh, io, "killall", &m).await;
            status = 1;
        }
    }
    status
}

/// `pidof`.
pub(super) async fn pidof(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut pids = Vec::new();
    for a in argv.iter().skip(1).filter(|a| !a.starts_with(b"-")) {
        pids.extend(super::ps::pids_of(sh, a));
    }
    if pids.is_empty() {
        return 1;
    }
    let line: Vec<String> = pids.iter().map(u32::to_string).collect();
    sh.write(&io.stdout, format!("{}\n", line.join(" ")).as_bytes())
        .await;
    0
}

/// `pkill`.
pub(super) async fn pkill(sh: &mut Sh, argv: &[Vec<u8>], _io: &Io) -> i32 {
    let mut any = false;
    for a in argv.iter().skip(1).filter(|a| !a.starts_with(b"-")) {
        any |= super::ps::kill_by_name(sh, a);
    }
    i32::from(!any)
}

/// `top`.
pub(super) async fn top(sh: &mut Sh, _argv: &[Vec<u8>], io: &Io) -> i32 {
    let out = super::ps::top(sh);
    sh.write(&io.stdout, &out).await;
    0
}

pub(super) async fn sleep(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    if argv.len() < 2 {
        return usage(sh, "sleep", io).await;
    }
    let mut total = Duration::ZERO;
    for a in argv.iter().skip(1) {
        let text = String::from_utf8_lossy(a);
        let (num, mult) = match text.chars().last() {
            Some('s') => (&text[..text.len() - 1], 1.0),
            Some('m') => (&text[..text.len() - 1], 60.0),
            Some('h') => (&text[..text.len() - 1], 3600.0),
            Some('d') => (&text[..text.len() - 1], 86400.0),
            _ => (&text[..], 1.0),
        };
        match num.parse::<f64>() {
            Ok(v) if v >= 0.0 && v.is_finite() => {
                total += Duration::from_secs_f64((v * mult).min(1e9))
            }
            _ => {
                err(
                    sh,
                    io,
                    "sleep",
                    format!("invalid number '{text}'").as_bytes(),
                )
                .await;
                return 1;
            }
        }
    }
    let until = sh.now().mono + total;
    sh.block(Wait::Until(until)).await;
    0
}

/// Words xargs takes from its input at most (the rest is ignored).
const MAX_XARGS_WORDS: usize = 4096;

/// `xargs [-n N] [COMMAND [ARG]...]`: runs COMMAND (`echo` by default) with the
/// words of its input, N at a time; 123 if a run failed, as BusyBox.
pub(super) async fn xargs(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> Run {
    let mut i = 1;
    let mut per_run = usize::MAX;
    while let Some(a) = argv.get(i) {
        match a.as_slice() {
            b"-n" => {
                per_run = argv
                    .get(i + 1)
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or(usize::MAX);
                i += 2;
            }
            x if x.starts_with(b"-n") => {
                per_run = std::str::from_utf8(x.get(2..).unwrap_or_default())
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or(usize::MAX);
                i += 1;
            }
            x if x.starts_with(b"-") && x.len() > 1 => i += 1,
            _ => break,
        }
    }
    let mut command: Vec<Vec<u8>> = argv.get(i..).unwrap_or_default().to_vec();
    if command.is_empty() {
        command.push(b"echo".to_vec());
    }
    let input = sh.stdin_bytes(io).await;
    let words: Vec<Vec<u8>> = input
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .take(MAX_XARGS_WORDS)
        .map(<[u8]>::to_vec)
        .collect();
    let run_io = Io {
        stdin: None,
        stdout: io.stdout.clone(),
        stderr: io.stderr.clone(),
        high: io.high.clone(),
    };
    let mut status = 0;
    let batches: Vec<Vec<Vec<u8>>> = if words.is_empty() {
        vec![Vec::new()]
    } else {
        words
            .chunks(per_run.min(words.len()))
            .map(<[_]>::to_vec)
            .collect()
    };
    for batch in batches {
        sh.step().await?;
        let mut line = command.clone();
        line.extend(batch);
        match Box::pin(sh.dispatch(line, &run_io)).await? {
            0 => {}
            127 => return Ok(127),
            _ => status = 123,
        }
    }
    Ok(status)
}
