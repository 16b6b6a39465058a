//! ash's built-in commands, and running a command given by path (`./upnp`,
//! `/bin/busybox`, a script the bot wrote).

use std::sync::Arc;

use crate::vfs::{base_name, Content, Node};

use super::exec::{ExecOutput, Flow, Io, Run, Sh, ShellEvent};

fn num(arg: Option<&Vec<u8>>) -> Option<i32> {
    std::str::from_utf8(arg?).ok()?.parse().ok()
}

/// Runs `name` if it is a builtin; `None` otherwise.
pub async fn run(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> Option<Run> {
    let r = match name {
        ":" | "true" => Ok(0),
        "false" => Ok(1),
        "cd" | "chdir" => Ok(cd(sh, argv, io).await),
        "pwd" => {
            let mut out = sh.cwd.clone();
            out.push(b'\n');
            sh.write(&io.stdout, &out).await;
            Ok(0)
        }
        // Exit statuses are a byte, as the kernel keeps them.
        "exit" | "return" | "break" | "continue" => {
            // ash's number(): decimal digits only (`010` is 10, `-1` and `0x10` are
            // errors), and no zero for the loop builtins.
            let n = match argv.get(1) {
                None => None,
                Some(arg) => {
                    let parsed = std::str::from_utf8(arg)
                        .ok()
                        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|t| t.parse::<u64>().ok())
                        .filter(|&n| n > 0 || matches!(name, "exit" | "return"));
                    match parsed {
                        Some(n) => Some(n),
                        None => {
                            let mut m = format!("{name}: Illegal number: ").into_bytes();
                            m.extend_from_slice(arg);
                            sh.shell_error(io, &m).await;
                            return Some(Err(Flow::Error(2)));
                        }
                    }
                }
            };
            let low = |n: u64| i32::from((n & 0xff) as u8);
            let count = |n: Option<u64>| u32::try_from(n.unwrap_or(1)).unwrap_or(u32::MAX);
            match name {
                "exit" => Err(Flow::Exit(n.map_or(sh.status & 0xff, low))),
                "return" => Err(Flow::Return(n.map_or(sh.status, low))),
                "break" => Err(Flow::Break(count(n))),
                _ => Err(Flow::Continue(count(n))),
            }
        }
        "export" | "readonly" | "local" => {
            for a in argv.iter().skip(1) {
                let (k, v) = match a.iter().position(|&b| b == b'=') {
                    Some(i) => (
                        a.get(..i).unwrap_or_default(),
                        Some(a.get(i + 1..).unwrap_or_default().to_vec()),
                    ),
                    None => (a.as_slice(), None),
                };
                let k = String::from_utf8_lossy(k).into_owned();
                if name == "local" {
                    // Remember the outer value once per function call.
                    let before = sh.vars.get(&k).cloned();
                    if let Some(frame) = sh.locals.last_mut() {
                        if !frame.iter().any(|(n, _)| *n == k) {
                            frame.push((k.clone(), before));
                        }
                    }
                }
                if sh.readonly.contains(&k) && v.is_some() {
                    let mut m = k.clone().into_bytes();
                    m.extend_from_slice(b": is read only");
                    sh.shell_error(io, &m).await;
                    return Some(Err(Flow::Error(2)));
                }
                if name == "readonly" && sh.readonly.len() < super::exec::MAX_VARS {
                    sh.readonly.insert(k.clone());
                }
                let value = v.or_else(|| sh.var(&k)).unwrap_or_default();
                sh.insert_var(k, value, name == "export");
            }
            Ok(0)
        }
        "unset" => {
            for a in argv.iter().skip(1) {
                let k = String::from_utf8_lossy(a).into_owned();
                Arc::make_mut(&mut sh.vars).remove(&k);
                sh.funcs.remove(&k);
            }
            Ok(0)
        }
        "set" => {
            let args: Vec<Vec<u8>> = argv.iter().skip(1).cloned().collect();
            if let Some(i) = args.iter().position(|a| a == b"--") {
                sh.positional = args.into_iter().skip(i + 1).collect();
            } else if args
                .first()
                .is_some_and(|a| !a.starts_with(b"-") && !a.starts_with(b"+"))
            {
                sh.positional = args;
            } else if args
                .first()
                .is_some_and(|a| a.starts_with(b"-") || a.starts_with(b"+"))
            {
                for a in &args {
                    let on = a.first() == Some(&b'-');
                    for f in a.iter().skip(1) {
                        match f {
                            b'x' => sh.xtrace = on,
                            b'e' => sh.errexit = on,
                            _ => {}
                        }
                    }
                }
            } else if args.is_empty() {
                let mut out = Vec::new();
                for (k, (v, _)) in sh.vars.iter() {
                    out.extend_from_slice(format!("{k}='").as_bytes());
                    out.extend_from_slice(v);
                    out.extend_from_slice(b"'\n");
                }
                sh.write(&io.stdout, &out).await;
            }
            Ok(0)
        }
        "shift" => {
            let n = num(argv.get(1)).unwrap_or(1).max(0) as usize;
            if n > sh.positional.len() {
                // ash's interactive shell says nothing, only fails.
                Ok(1)
            } else {
                sh.positional.drain(..n);
                Ok(0)
            }
        }
        "echo" | "printf" | "test" | "[" | "[[" | "kill" => {
            let programs = sh.config.programs.clone();
            let call = super::exec::Call {
                name,
                argv,
                io,
                builtin: true,
            };
            programs.run(sh, call).await
        }
        "read" => Ok(read(sh, argv, io).await),
        "eval" => {
            let src = argv.iter().skip(1).cloned().collect::<Vec<_>>().join(&b' ');
            if let Err(f) = sh.reserve(src.capacity()) {
                return Some(Err(f));
            }
            super::run_source(sh, &src, io).await
        }
        "." | "source" => match argv.get(1) {
            Some(path) => {
                let cwd = sh.cwd.clone();
                match sh.read_file(&cwd, path) {
                    Ok(src) => super::run_source(sh, &src, io).await,
                    Err(e) => {
                        let mut msg = b".: can't open '".to_vec();
                        msg.extend_from_slice(path);
                        msg.extend_from_slice(format!("': {e}").as_bytes());
                        sh.shell_error(io, &msg).await;
                        Ok(2)
                    }
                }
            }
            None => Ok(0),
        },
        "umask" => Ok(umask(sh, argv, io).await),
        "type" => Ok(type_of(sh, argv, io, false).await),
        "command" if argv.get(1).is_some_and(|a| a == b"-v" || a == b"-V") => {
            let verbose = argv.get(1).is_some_and(|a| a == b"-V");
            let rest: Vec<Vec<u8>> = argv.iter().skip(1).cloned().collect();
            Ok(type_of(sh, &rest, io, !verbose).await)
        }
        "history" => {
            let mut out = Vec::new();
            for (i, line) in sh.history.iter().enumerate() {
                out.extend_from_slice(format!("{i:4} ").as_bytes());
                out.extend_from_slice(line);
                out.push(b'\n');
            }
            sh.write(&io.stdout, &out).await;
            Ok(0)
        }
        "alias" => Ok(alias(sh, argv, io).await),
        "unalias" => {
            for a in argv.iter().skip(1) {
                sh.aliases.remove(&String::from_utf8_lossy(a).into_owned());
            }
            Ok(0)
        }
        "trap" => Ok(trap(sh, argv, io).await),
        "ulimit" => Ok(ulimit(sh, argv, io).await),
        "wait" | "hash" | "times" => Ok(0),
        // `exec` with only redirections: they stay for the shell (descriptors 3-9).
        "exec" if argv.len() == 1 => {
            for (fd, sink) in &io.high {
                sh.fds.retain(|(n, _)| n != fd);
                if let Some(s) = sink {
                    sh.fds.push((*fd, s.clone()));
                }
            }
            Ok(0)
        }
        _ => return None,
    };
    Some(r)
}

async fn cd(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let target = match argv.get(1) {
        Some(t) if t.as_slice() == b"-" => sh.var("OLDPWD").unwrap_or_else(|| sh.cwd.clone()),
        Some(t) => t.clone(),
        None => sh.var("HOME").unwrap_or_else(|| b"/".to_vec()),
    };
    let cwd = sh.cwd.clone();
    match sh.vfs.lookup(&cwd, &target, true) {
        Ok((canonical, node)) if node.is_dir() => {
            // ash keeps the logical path (`cd /var/run` stays /var/run through links).
            let logical = sh.abs(&target);
            let new = if sh.vfs.resolve(b"/", &logical, true).ok().as_deref()
                == Some(canonical.as_slice())
            {
                logical
            } else {
                canonical
            };
            let old = std::mem::replace(&mut sh.cwd, new.clone());
            sh.set_var("OLDPWD", old);
            sh.set_var("PWD", new.clone());
            // `cd -` says where it went.
            if argv.get(1).is_some_and(|t| t.as_slice() == b"-") {
                let mut line = new;
                line.push(b'\n');
                sh.write(&io.stdout, &line).await;
            }
            0
        }
        Ok(_) => {
            let mut msg = b"cd: can't cd to ".to_vec();
            msg.extend_from_slice(&target);
            msg.extend_from_slice(b": Not a directory");
            sh.shell_error(io, &msg).await;
            2
        }
        Err(e) => {
            let mut msg = b"cd: can't cd to ".to_vec();
            msg.extend_from_slice(&target);
            msg.extend_from_slice(format!(": {e}").as_bytes());
            sh.shell_error(io, &msg).await;
            2
        }
    }
}

/// `read [-r] NAME…` from stdin: one line per call (the input is consumed in order).
async fn read(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let names: Vec<String> = argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with(b"-"))
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let from_pipe: Vec<u8>;
    let (line, complete) = match &io.stdin {
        Some(input) => {
            let taken = input.take_line();
            if taken.is_empty() {
                return 1;
            }
            match taken.strip_suffix(b"\n") {
                Some(line) => (line, true),
                None => (taken, false),
            }
        }
        None => {
            let Some(bytes) = sh.read_pipe(super::stdin::Want::Line).await else {
                return 1;
            };
            from_pipe = bytes;
            match from_pipe.strip_suffix(b"\n") {
                Some(line) => (line, true),
                None => (from_pipe.as_slice(), false),
            }
        }
    };
    // Without -r a backslash quotes the next character (and is removed).
    let raw = argv.iter().skip(1).any(|a| a.as_slice() == b"-r");
    let unquoted: Vec<u8>;
    let line = if raw {
        line
    } else {
        let mut v = Vec::with_capacity(line.len());
        let mut it = line.iter();
        while let Some(&b) = it.next() {
            if b == b'\\' {
                if let Some(&n) = it.next() {
                    v.push(n);
                }
            } else {
                v.push(b);
            }
        }
        unquoted = v;
        unquoted.as_slice()
    };
    let mut fields: Vec<&[u8]> = line
        .split(|b| matches!(b, b' ' | b'\t'))
        .filter(|f| !f.is_empty())
        .collect();
    let names = if names.is_empty() {
        vec!["REPLY".to_string()]
    } else {
        names
    };
    for (i, name) in names.iter().enumerate() {
        let value = if i + 1 == names.len() {
            let rest: Vec<&[u8]> = std::mem::take(&mut fields);
            rest.join(&b' ')
        } else if fields.is_empty() {
            Vec::new()
        } else {
            fields.remove(0).to_vec()
        };
        sh.set_var(name, value);
    }
    if complete {
        0
    } else {
        1
    }
}

/// `ulimit [-acdefilmnqrstuvx] [VALUE]`: the limits a device of the profile's memory
/// and architecture starts with; values set stay for the shell.
async fn ulimit(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let p = &sh.device.profile;
    let mem_kb = p
        .meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(65_536);
    // The kernel's max_threads: memory pages over eight thread stacks (16 KiB on
    // 64-bit, 8 KiB on the 32-bit boards); the default process limit is half.
    let stack_pages = if p.arch.uname_machine() == "x86_64" {
        4
    } else {
        2
    };
    let processes = (mem_kb / 4 / (8 * stack_pages) / 2).to_string();
    let open_files = p.open_files.to_string();
    let table: [(u8, &str, String); 15] = [
        (b'c', "core file size (blocks)", "0".into()),
        (b'd', "data seg size (kb)", "unlimited".into()),
        (b'e', "scheduling priority", "0".into()),
        (b'f', "file size (blocks)", "unlimited".into()),
        (b'i', "pending signals", processes.clone()),
        (b'l', "max locked memory (kb)", "8192".into()),
        (b'm', "max memory size (kb)", "unlimited".into()),
        (b'n', "open files", open_files),
        (b'q', "POSIX message queues (bytes)", "819200".into()),
        (b'r', "real-time priority", "0".into()),
        (b's', "stack size (kb)", "8192".into()),
        (b't', "cpu time (seconds)", "unlimited".into()),
        (b'u', "max user processes", processes),
        (b'v', "virtual memory (kb)", "unlimited".into()),
        (b'x', "file locks", "unlimited".into()),
    ];
    let value_of = |sh: &Sh, flag: u8| {
        sh.ulimits
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .or_else(|| {
                table
                    .iter()
                    .find(|(f, ..)| *f == flag)
                    .map(|(.., v)| v.clone())
            })
    };
    let mut flags = Vec::new();
    let mut value = None;
    for a in argv.iter().skip(1) {
        match a.strip_prefix(b"-") {
            Some(f) if !f.is_empty() => flags.extend_from_slice(f),
            _ => value = Some(a.clone()),
        }
    }
    let mut out = String::new();
    if flags.contains(&b'a') {
        for (flag, name, _) in &table {
            let v = value_of(sh, *flag).unwrap_or_default();
            out.push_str(&format!("{name:<32}(-{}) {v}\n", char::from(*flag)));
        }
        sh.write(&io.stdout, out.as_bytes()).await;
        return 0;
    }
    if flags.is_empty() {
        flags.push(b'f');
    }
    for &flag in &flags {
        if !table.iter().any(|(f, ..)| *f == flag) {
            let msg = format!("ulimit: invalid option -- '{}'\n", char::from(flag));
            sh.write(&io.stderr, msg.as_bytes()).await;
            return 1;
        }
    }
    match value {
        // Setting: kept for this shell (one value per limit).
        Some(v) => {
            for &flag in &flags {
                sh.ulimits.retain(|(f, _)| *f != flag);
                sh.ulimits.push((flag, v.clone()));
            }
        }
        None => {
            for &flag in &flags {
                out.push_str(&value_of(sh, flag).unwrap_or_default());
                out.push('\n');
            }
            sh.write(&io.stdout, out.as_bytes()).await;
        }
    }
    0
}

/// Runs a command named by a path.
pub async fn run_path(sh: &mut Sh, path: &[u8], argv: Vec<Vec<u8>>, io: &Io) -> Run {
    let cwd = sh.cwd.clone();
    let not_found = |sh: &Sh| {
        sh.event(ShellEvent::CommandNotFound(argv.join(&b' ')));
    };
    let (canonical, node) = match sh.vfs.lookup(&cwd, path, true) {
        Ok((c, n)) => (c, n.clone()),
        Err(_) => {
            let mut msg = path.to_vec();
            msg.extend_from_slice(b": not found");
            sh.shell_error(io, &msg).await;
            not_found(sh);
            return Ok(127);
        }
    };
    let Node::File(meta, content) = node else {
        let mut msg = path.to_vec();
        msg.extend_from_slice(b": Permission denied");
        sh.shell_error(io, &msg).await;
        return Ok(126);
    };
    if meta.mode & 0o111 == 0 {
        let mut msg = path.to_vec();
        msg.extend_from_slice(b": Permission denied");
        sh.shell_error(io, &msg).await;
        return Ok(126);
    }
    if content == sh.vfs.base().busybox {
        // A link to (or copy of) busybox runs the applet it is named after.
        let applet = String::from_utf8_lossy(base_name(path)).into_owned();
        if applet == "busybox" || sh.device.profile.has_applet(&applet) {
            let programs = sh.config.programs.clone();
            let call = super::exec::Call {
                name: &applet,
                argv: &argv,
                io,
                builtin: false,
            };
            return programs.run(sh, call).await;
        }
        let mut msg = applet.into_bytes();
        msg.extend_from_slice(b": applet not found\n");
        sh.write(&io.stderr, &msg).await;
        return Ok(127);
    }
    if canonical == crate::vfs::DROPBEAR_PATH.as_bytes()
        && base_name(path) == b"scp"
        && sh.device.profile.scp_path().is_some()
    {
        let programs = sh.config.programs.clone();
        let call = super::exec::Call {
            name: "scp",
            argv: &argv,
            io,
            builtin: false,
        };
        return programs.run(sh, call).await;
    }
    // Running a file means it is finished: capture it first.
    sh.vfs.finish(&canonical);
    let head = content.slice(0, 4);
    if head == b"\x7fELF" {
        // Never executed: answer as the real bot would have, if configured to.
        sh.event(ShellEvent::Executed(canonical));
        return Ok(match sh.config.exec_output {
            ExecOutput::Silent => 0,
            ExecOutput::Segfault => {
                sh.write(&io.stderr, b"Segmentation fault\n").await;
                139
            }
            ExecOutput::MiraiListening => {
                sh.write(&io.stdout, b"listening tun0\n").await;
                0
            }
        });
    }
    if matches!(content, Content::Proc(_)) {
        let mut msg = path.to_vec();
        msg.extend_from_slice(b": Permission denied");
        sh.shell_error(io, &msg).await;
        return Ok(126);
    }
    // Anything else runs as a shell script.
    let src = sh.read_file(&cwd, path).unwrap_or_default();
    let r = super::run_script(sh, path, &src, argv.into_iter().skip(1).collect(), io).await;
    sh.child_status(r, &io.stderr).await
}

/// ash's builtins, for `type` and `command -v`.
pub(crate) const BUILTINS: [&str; 43] = [
    ".", ":", "[", "[[", "alias", "bg", "break", "cd", "chdir", "command", "continue", "echo",
    "eval", "exec", "exit", "export", "false", "fg", "getopts", "hash", "help", "history", "jobs",
    "kill", "let", "local", "printf", "pwd", "read", "readonly", "return", "set", "shift",
    "source", "test", "times", "trap", "true", "type", "ulimit", "umask", "unset", "wait",
];

/// `type NAME...` (and `command -v`, which prints only the name or path): a
/// function, a builtin, an applet (by name where the shell runs applets without a
/// PATH search, else by its path) or not found (status 127).
async fn type_of(sh: &mut Sh, argv: &[Vec<u8>], io: &Io, short: bool) -> i32 {
    let mut status = 0;
    for a in argv.iter().skip(1) {
        let n = String::from_utf8_lossy(a).into_owned();
        let applet = sh.device.profile.has_applet(&n) && !n.contains('/');
        let line = if sh.funcs.contains_key(&n) {
            if short {
                n.clone()
            } else {
                format!("{n} is a function")
            }
        } else if BUILTINS.contains(&n.as_str()) {
            if short {
                n.clone()
            } else {
                format!("{n} is a shell builtin")
            }
        } else if applet {
            let path = if sh.device.profile.sh_standalone {
                n.clone()
            } else {
                format!("/{}", crate::vfs::applet_path(&n))
            };
            if short {
                path
            } else {
                format!("{n} is {path}")
            }
        } else {
            status = 127;
            if !short {
                sh.write(&io.stdout, format!("{n}: not found\n").as_bytes())
                    .await;
            }
            continue;
        };
        sh.write(&io.stdout, format!("{line}\n").as_bytes()).await;
    }
    status
}

/// `umask [MODE]`: shows the mask as four octal digits, or sets it.
async fn umask(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    match argv.get(1) {
        None => {
            let m = sh.umask;
            sh.write(&io.stdout, format!("{m:04o}\n").as_bytes()).await;
            0
        }
        Some(mode) => match std::str::from_utf8(mode)
            .ok()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
        {
            Some(m) if m <= 0o777 => {
                sh.umask = m;
                0
            }
            _ => {
                let mut msg = b"umask: invalid mode '".to_vec();
                msg.extend_from_slice(mode);
                msg.push(b'\'');
                sh.shell_error(io, &msg).await;
                1
            }
        },
    }
}

/// `alias [NAME[=VALUE]]...`: defines, shows one, or lists all as `name='value'`.
async fn alias(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    let show = |name: &str, value: &[u8]| {
        let mut line = format!("{name}='").into_bytes();
        line.extend_from_slice(value);
        line.extend_from_slice(b"'\n");
        line
    };
    if argv.len() < 2 {
        let out: Vec<u8> = sh.aliases.iter().flat_map(|(n, v)| show(n, v)).collect();
        sh.write(&io.stdout, &out).await;
        return 0;
    }
    let mut status = 0;
    for a in argv.iter().skip(1) {
        match a.iter().position(|&b| b == b'=') {
            Some(i) => {
                let name = String::from_utf8_lossy(a.get(..i).unwrap_or_default()).into_owned();
                // Bounded like the other per-session tables.
                if sh.aliases.len() < MAX_ALIASES || sh.aliases.contains_key(&name) {
                    sh.aliases
                        .insert(name, a.get(i + 1..).unwrap_or_default().to_vec());
                }
            }
            None => {
                let name = String::from_utf8_lossy(a).into_owned();
                match sh.aliases.get(&name).cloned() {
                    Some(v) => sh.write(&io.stdout, &show(&name, &v)).await,
                    None => {
                        let m = format!("alias: {name} not found\n");
                        sh.write(&io.stderr, m.as_bytes()).await;
                        status = 1;
                    }
                }
            }
        }
    }
    status
}

/// Aliases a session may define.
const MAX_ALIASES: usize = 64;

/// `trap [ACTION SIGNAL...]`: remembers the action (nothing is ever signalled
/// here); with no arguments lists them as `trap -- 'action' SIGNAL`.
async fn trap(sh: &mut Sh, argv: &[Vec<u8>], io: &Io) -> i32 {
    if argv.len() < 2 {
        let mut out = Vec::new();
        for (sig, action) in &sh.traps {
            out.extend_from_slice(b"trap -- '");
            out.extend_from_slice(action);
            out.extend_from_slice(format!("' {sig}\n").as_bytes());
        }
        sh.write(&io.stdout, &out).await;
        return 0;
    }
    let action = argv.get(1).cloned().unwrap_or_default();
    for sig in argv.iter().skip(2) {
        let name = String::from_utf8_lossy(sig).to_ascii_uppercase();
        let name = match name.as_str() {
            "0" => "EXIT".to_string(),
            n => n.trim_start_matches("SIG").to_string(),
        };
        if action.is_empty() || action.as_slice() == b"-" {
            sh.traps.remove(&name);
        } else if sh.traps.len() < MAX_ALIASES || sh.traps.contains_key(&name) {
            sh.traps.insert(name, action.clone());
        }
    }
    0
}
