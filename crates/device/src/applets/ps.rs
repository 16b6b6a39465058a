//! The process table `ps` shows and `kill` checks: a plausible set for the profile,
//! the login shell and its children, and nothing Mirai's loader would want to kill
//! (no second `init`, no all-digit names).

use crate::shell::exec::Sh;

struct Proc {
    pid: u32,
    vsz: u32,
    stat: &'static str,
    command: String,
}

fn table(sh: &Sh) -> Vec<Proc> {
    let p = |pid, vsz, stat, command: &str| Proc {
        pid,
        vsz,
        stat,
        command: command.to_string(),
    };
    let mut procs = vec![
        p(1, 1452, "S", "init"),
        p(2, 0, "SW", "[kthreadd]"),
        p(3, 0, "SW", "[ksoftirqd/0]"),
        p(4, 0, "SW", "[events/0]"),
        p(5, 0, "SW", "[khelper]"),
        p(14, 0, "SW", "[kblockd/0]"),
        p(51, 0, "SW", "[kswapd0]"),
        p(140, 1448, "S", "/sbin/syslogd"),
        p(174, 1456, "S", "telnetd"),
    ];
    procs.push(Proc {
        pid: sh.login_pid(),
        vsz: 1460,
        stat: "S",
        command: "-sh".into(),
    });
    let mut pid = sh.login_pid();
    for _ in 1..sh.nested_shells() + 1 {
        pid += 3;
        procs.push(Proc {
            pid,
            vsz: 1460,
            stat: "S",
            command: "sh".into(),
        });
    }
    procs.retain(|p| !sh.killed().contains(&p.pid));
    procs
}

/// `killall NAME`: whether a process of that name was there (and now is not).
pub fn kill_by_name(sh: &mut Sh, name: &[u8]) -> bool {
    let pids: Vec<u32> = table(sh)
        .iter()
        .filter(|p| {
            p.command.as_bytes() == name || crate::vfs::base_name(p.command.as_bytes()) == name
        })
        .map(|p| p.pid)
        .filter(|&pid| pid != 1 && pid != sh.pid())
        .collect();
    sh.kill(pids.iter().copied());
    !pids.is_empty()
}

/// `pidof NAME`: the pids of processes of that name, newest first (as BusyBox
/// lists them).
pub fn pids_of(sh: &Sh, name: &[u8]) -> Vec<u32> {
    let mut pids: Vec<u32> = table(sh)
        .iter()
        .filter(|p| {
            let command = p.command.as_bytes();
            let command = command.strip_prefix(b"-").unwrap_or(command);
            command == name || crate::vfs::base_name(command) == name
        })
        .map(|p| p.pid)
        .collect();
    pids.reverse();
    pids
}

/// Whether a pid is in the table.
pub fn exists(sh: &Sh, pid: u32) -> bool {
    table(sh).iter().any(|p| p.pid == pid) || pid == sh.next_pid()
}

/// The table with `command` itself running under the next pid.
fn table_with_self(sh: &mut Sh, command: &str, vsz: u32) -> Vec<Proc> {
    let pid = sh.new_pid();
    let mut procs = table(sh);
    procs.push(Proc {
        pid,
        vsz,
        stat: "R",
        command: command.into(),
    });
    procs
}

/// `ps` output in the profile's style.
pub fn render(sh: &mut Sh) -> Vec<u8> {
    let procs = table_with_self(sh, "ps", 1452);
    let mut out = Vec::new();
    match sh.device().profile.ps_style {
        crate::profile::PsStyle::Classic => {
            out.extend_from_slice(b"  PID USER       VSZ STAT COMMAND\n");
            for p in procs {
                out.extend_from_slice(
                    format!(
                        "{:5} {:<8} {:5} {:<4} {}\n",
                        p.pid, "root", p.vsz, p.stat, p.command
                    )
                    .as_bytes(),
                );
            }
        }
        crate::profile::PsStyle::Minimal => {
            out.extend_from_slice(b"PID   USER     COMMAND\n");
            for p in procs {
                out.extend_from_slice(
                    format!("{:5} {:<8} {}\n", p.pid, "root", p.command).as_bytes(),
                );
            }
        }
    }
    out
}

/// The parent of a process in [`table`]: kernel threads hang off kthreadd, daemons
/// off init, the login shell off telnetd and each nested shell off the one before.
fn parent(sh: &Sh, p: &Proc, previous: u32) -> u32 {
    match p.pid {
        1 | 2 => 0,
        _ if p.command.starts_with('[') => 2,
        pid if pid == sh.login_pid() => 174,
        _ if p.command == "sh" => previous,
        _ => 1,
    }
}

/// `top -n1`: the summary lines from the profile's memory and the process table,
/// every process idle.
pub fn top(sh: &mut Sh) -> Vec<u8> {
    let procs = table_with_self(sh, "top -n1", 1456);
    let meminfo = |key: &str| {
        sh.device()
            .profile
            .meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (total, free) = (meminfo("MemTotal"), meminfo("MemFree"));
    let (buffers, cached) = (meminfo("Buffers"), meminfo("Cached"));
    let load = crate::shell::procfs::generate(sh, crate::vfs::ProcFile::LoadAvg);
    let load = String::from_utf8_lossy(&load);
    let mut out = format!(
        "Mem: {}K used, {free}K free, 0K shrd, {buffers}K buff, {cached}K cached\nCPU:   0% usr   0% sys   0% nic 100% idle   0% io   0% irq   0% sirq\nLoad average: {}\n\x1b[7m  PID  PPID USER     STAT   VSZ %VSZ %CPU COMMAND\x1b[m\n",
        total.saturating_sub(free),
        load.trim_end()
    )
    .into_bytes();
    let width = sh.term_width().max(42);
    let mut previous = 0;
    for p in &procs {
        let ppid = parent(sh, p, previous);
        previous = p.pid;
        let share = (u64::from(p.vsz) * 100).checked_div(total).unwrap_or(0);
        let line = format!(
            "{:5} {:5} {:<8} {:<4} {:5} {:3}%   0% {}",
            p.pid, ppid, "root", p.stat, p.vsz, share, p.command
        );
        let shown = line.get(..line.len().min(width - 1)).unwrap_or(&line);
        out.extend_from_slice(shown.as_bytes());
        out.push(b'\n');
    }
    out
}
