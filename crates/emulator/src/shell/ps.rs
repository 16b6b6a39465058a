//! The process table `ps` shows and `kill` checks: a plausible set for the profile,
//! the login shell and its children, and nothing Mirai's loader would want to kill
//! (no second `init`, no all-digit names).

use super::exec::Sh;

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
        pid: sh.login_pid,
        vsz: 1460,
        stat: "S",
        command: "-sh".into(),
    });
    let mut pid = sh.login_pid;
    for _ in 1..sh.levels.len() + 1 {
        pid += 3;
        procs.push(Proc {
            pid,
            vsz: 1460,
            stat: "S",
            command: "sh".into(),
        });
    }
    procs.retain(|p| !sh.killed.contains(&p.pid));
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
        .filter(|&pid| pid != 1 && pid != sh.pid)
        .collect();
    sh.killed.extend(&pids);
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
    table(sh).iter().any(|p| p.pid == pid) || pid == sh.next_pid
}

/// `ps` output in the profile's style.
pub fn render(sh: &mut Sh) -> Vec<u8> {
    let ps_pid = sh.next_pid;
    sh.next_pid += 1;
    let mut procs = table(sh);
    procs.push(Proc {
        pid: ps_pid,
        vsz: 1452,
        stat: "R",
        command: "ps".into(),
    });
    let mut out = Vec::new();
    match sh.device.profile.ps_style {
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
