//! Properties of the shell on arbitrary input: it never panics, every line ends
//! within its budget, and `echo -ne` of `\xHH` escapes writes exactly those bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use busybait_device::profile::{Device, Profile};
use busybait_device::shell::exec::Fatal;
use busybait_device::shell::{FetchResult, Outcome, Shell, ShellConfig, State, Wait};
use busybait_device::vfs::{BaseFs, Content, Node, VfsLimits};
use busybait_device::Now;
use proptest::prelude::*;

fn shell(profile: &str) -> (Shell, Now) {
    let p = Profile::builtin()
        .unwrap()
        .into_iter()
        .find(|p| p.name == profile)
        .unwrap();
    let device = Arc::new(Device::new(Arc::new(p), 3));
    let base = Arc::new(BaseFs::new(&device, 1_600_000_000));
    let now = Now {
        mono: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
    };
    let config = ShellConfig {
        step_budget: 2_000,
        ..ShellConfig::default()
    };
    (
        Shell::new(device, base, config, VfsLimits::default(), 321, now),
        now,
    )
}

/// Runs a line to the end, answering every wait; a line that stalls (a spent budget)
/// gets a `^C`. Returns (outcome, polls, output, whether it stalled).
fn run_to_end(sh: &mut Shell, now: &mut Now, line: &[u8]) -> (Outcome, usize, Vec<u8>, bool) {
    sh.start(line, *now);
    let mut output = Vec::new();
    let mut stalled = false;
    for polls in 1..=100_000 {
        let state = sh.poll(*now);
        output.extend(sh.take_output());
        match state {
            State::Finished(o) => return (o, polls, output, stalled),
            State::Idle => panic!("idle while running"),
            State::Waiting(Wait::Until(t)) => {
                *now = now.after(t.saturating_duration_since(now.mono));
                sh.respond(None);
            }
            State::Waiting(Wait::Drain | Wait::Yield) => sh.respond(None),
            State::Waiting(Wait::Fetch(_)) => sh.respond(Some(FetchResult::Refused)),
            State::Waiting(Wait::Stdin) => panic!("a login shell's terminal reads as empty"),
            State::Waiting(Wait::Stalled) => {
                assert!(!stalled, "a stalled line ends at ^C");
                stalled = true;
                sh.interrupt();
            }
        }
    }
    panic!("line never finished: {}", String::from_utf8_lossy(line));
}

fn run(sh: &mut Shell, now: &mut Now, line: &[u8]) -> (Outcome, usize, Vec<u8>) {
    let (outcome, polls, output, _) = run_to_end(sh, now, line);
    (outcome, polls, output)
}

fn file(sh: &Shell, path: &[u8]) -> Vec<u8> {
    let (_, node) = sh.vfs().unwrap().read(b"/", path).unwrap();
    match node {
        Node::File(_, Content::Bytes(b)) => b.as_ref().clone(),
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_lines_end_and_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (mut sh, mut now) = shell("oracle");
        let (_, polls, _) = run(&mut sh, &mut now, &line);
        prop_assert!(polls < 100_000);
    }

    #[test]
    fn shell_like_lines_end_and_never_panic(parts in proptest::collection::vec(prop_oneof![
        Just("echo a"), Just(";"), Just("&&"), Just("||"), Just("|"), Just("&"), Just("("), Just(")"),
        Just("{"), Just("}"), Just("if"), Just("then"), Just("else"), Just("fi"), Just("while"), Just("do"),
        Just("done"), Just("for i in 1 2"), Just("true"), Just("false"), Just("f(){ f; }"), Just("f"),
        Just("$(echo x)"), Just("`echo y`"), Just("$((1+2))"), Just(">/tmp/a"), Just("<"), Just("cat /tmp/a"),
        Just("'"), Just("\""), Just("\\"), Just("*"), Just("sh -c 'f(){ f|f; }; f'"), Just("exit"),
        Just("sleep 1"), Just("wget http://127.0.0.1/x"), Just("cat /bin/echo"), Just("\n"),
    ], 0..24)) {
        let line = parts.join(" ");
        let (mut sh, mut now) = shell("xiongmai-dvr");
        run(&mut sh, &mut now, line.as_bytes());
        // The shell is still usable afterwards (unless the line logged out).
        if sh.nesting() == 0 {
            let (_, _, out) = run(&mut sh, &mut now, b"echo alive");
            prop_assert!(out.ends_with(b"alive\n") || out.is_empty());
        }
    }

    #[test]
    fn echo_ne_hex_escapes_write_exactly_those_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (mut sh, mut now) = shell("ipcam-mipsel");
        let hex: String = bytes.iter().map(|b| format!("\\x{b:02x}")).collect();
        let line = format!("echo -ne '{hex}' > /tmp/upnp");
        let (outcome, _, out) = run(&mut sh, &mut now, line.as_bytes());
        prop_assert_eq!(outcome, Outcome::Prompt);
        prop_assert_eq!(out, Vec::<u8>::new());
        prop_assert_eq!(file(&sh, b"/tmp/upnp"), bytes);
    }
}

#[test]
fn runaway_loops_stall_until_interrupted_and_recursion_crashes() {
    use busybait_device::shell::ShellEvent::Budget;
    let (mut sh, mut now) = shell("oracle");
    // Loops and fork bombs look like a command still running; ^C ends them.
    for (line, budget) in [
        (&b"while true; do :; done"[..], "steps"),
        (
            b"(((((((((((((((((((((((((((((((((:)))))))))))))))))))))))))))))))))",
            "nesting",
        ),
    ] {
        let (outcome, _, out, stalled) = run_to_end(&mut sh, &mut now, line);
        assert_eq!(outcome, Outcome::Prompt);
        assert!(stalled, "{}", String::from_utf8_lossy(line));
        assert_eq!(
            out, b"",
            "no output, no prompt: nothing a device would not show"
        );
        assert_eq!(sh.take_events(), vec![Budget(budget)]);
    }
    // A fork bomb's branches crash at the bottom; the whole stalls on its steps.
    let (outcome, _, _, stalled) = run_to_end(&mut sh, &mut now, b"f(){ f|f& }; f");
    assert_eq!((outcome, stalled), (Outcome::Prompt, true));
    let events = sh.take_events();
    assert_eq!(events.last(), Some(&Budget("steps")));
    let (_, _, out) = run(&mut sh, &mut now, b":(){ :|:& };:");
    assert_eq!(out, b"-sh: syntax error: bad function name\n");
    // Recursion in a child process: the parent reports its crash.
    let (outcome, _, out) = run(&mut sh, &mut now, b"(f(){ f; }; f); echo $?");
    assert_eq!(outcome, Outcome::Prompt);
    assert_eq!(out, b"Segmentation fault\n139\n");
    // In the login shell: the shell is gone.
    let (outcome, _, out) = run(&mut sh, &mut now, b"f(){ f; }; f");
    assert_eq!(outcome, Outcome::Died(Fatal::Segfault));
    assert_eq!(out, b"");
}

#[test]
fn the_mirai_echo_dropper_rebuilds_the_binary() {
    let (mut sh, mut now) = shell("ipcam-mipsel");
    let binary: Vec<u8> = (0..1240u32).map(|i| (i * 37 % 256) as u8).collect();
    run(&mut sh, &mut now, b"cd /tmp/; /bin/busybox cp /bin/echo dvrHelper; >dvrHelper; /bin/busybox chmod 777 dvrHelper");
    run(
        &mut sh,
        &mut now,
        b"/bin/busybox cp dvrHelper upnp; > upnp; /bin/busybox chmod 777 upnp",
    );
    for (i, chunk) in binary.chunks(128).enumerate() {
        let hex: String = chunk.iter().map(|b| format!("\\x{b:02x}")).collect();
        let line = format!(
            "echo -ne '{hex}' {} upnp; /bin/busybox ECCHI",
            if i == 0 { ">" } else { ">>" }
        );
        let (_, _, out) = run(&mut sh, &mut now, line.as_bytes());
        assert_eq!(out, b"ECCHI: applet not found\n");
    }
    assert_eq!(file(&sh, b"/tmp/upnp"), binary);
    let (_, node) = sh.vfs().unwrap().read(b"/", b"/tmp/upnp").unwrap();
    assert_eq!(node.meta().mode, 0o777);
}

#[test]
fn a_command_runs_as_sh_dash_c_for_doors_without_a_terminal() {
    let (mut sh, mut now) = shell("oracle");
    let mut exec = |sh: &mut Shell, line: &[u8]| {
        sh.start_command(line, now);
        let mut output = Vec::new();
        loop {
            let state = sh.poll(now);
            output.extend(sh.take_output());
            match state {
                State::Finished(o) => return (o, output),
                State::Waiting(Wait::Until(t)) => {
                    now = now.after(t.saturating_duration_since(now.mono));
                    sh.respond(None);
                }
                State::Waiting(_) => sh.respond(None),
                State::Idle => panic!("idle"),
            }
        }
    };
    assert_eq!(
        exec(&mut sh, b"echo hi; exit 3"),
        (Outcome::Exited(3), b"hi\n".to_vec())
    );
    assert_eq!(
        exec(&mut sh, b"nosuch"),
        (Outcome::Exited(127), b"sh: nosuch: not found\n".to_vec())
    );
    assert_eq!(
        exec(&mut sh, b"x=1; [ $x = 1 ]"),
        (Outcome::Exited(0), Vec::new())
    );
    // State stays with the device: a file written by one command is there for the next.
    exec(&mut sh, b"echo kept > /tmp/k");
    assert_eq!(
        exec(&mut sh, b"cat /tmp/k"),
        (Outcome::Exited(0), b"kept\n".to_vec())
    );
    // The budgets apply as at a prompt.
    let (outcome, out) = exec(&mut sh, b"x=A; while :; do x=$x$x; done");
    assert_eq!(
        (outcome, out),
        (
            Outcome::Died(Fatal::OutOfMemory),
            b"sh: out of memory\n".to_vec()
        )
    );
}
