//! Running the parsed tree: `&&`/`||` lists, pipelines, compound commands (`if`,
//! loops, `case`, subshells, groups), simple commands with their assignments and
//! redirections, and function calls, each step charged to the line's budget.

use super::*;

impl Sh {
    pub(super) async fn run_and_or(&mut self, and_or: &AndOr, io: &Io) -> Run {
        // All but the last part of `a && b || c` are conditions for `set -e`.
        let parts = and_or.rest.len();
        self.conditions += usize::from(parts > 0);
        let first = self.run_pipeline(&and_or.first, io).await;
        self.conditions -= usize::from(parts > 0);
        let mut status = first?;
        for (i, (and, pipeline)) in and_or.rest.iter().enumerate() {
            self.status = status;
            if (*and && status == 0) || (!*and && status != 0) {
                let condition = i + 1 < parts;
                self.conditions += usize::from(condition);
                let r = self.run_pipeline(pipeline, io).await;
                self.conditions -= usize::from(condition);
                status = r?;
            }
        }
        Ok(status)
    }

    /// Runs a list as the condition of `if`/`while`/`until` (no `set -e` there).
    pub(super) async fn run_condition(&mut self, list: &List, io: &Io) -> Run {
        self.conditions += 1;
        let r = self.run_list(list, io).await;
        self.conditions -= 1;
        r
    }

    pub(super) async fn run_pipeline(&mut self, pipeline: &Pipeline, io: &Io) -> Run {
        let n = pipeline.commands.len();
        let mut input = io.stdin.clone();
        let mut status = 0;
        // What a stage left in its pipe is held until the next stage has read it.
        let mark = self.meter.mark();
        let r = async {
            for (i, cmd) in pipeline.commands.iter().enumerate() {
                let last = i + 1 == n;
                let capture = Arc::new(Mutex::new(Vec::new()));
                let stage_io = Io {
                    stdin: input.clone(),
                    stdout: if last {
                        io.stdout.clone()
                    } else {
                        Sink::Capture(capture.clone())
                    },
                    stderr: io.stderr.clone(),
                    high: io.high.clone(),
                };
                // Each stage of a real pipeline is its own process: `exit` ends only it.
                status = if n > 1 {
                    let r = self.run_command(cmd, &stage_io).await;
                    self.child_status(r, &io.stderr).await?
                } else {
                    self.run_command(cmd, &stage_io).await?
                };
                if !last {
                    let bytes =
                        std::mem::take(&mut *capture.lock().unwrap_or_else(|e| e.into_inner()));
                    self.meter.release_to(mark);
                    self.reserve(bytes.capacity())?;
                    input = Some(OpenInput::new(Arc::new(bytes)));
                }
            }
            Ok(())
        }
        .await;
        self.meter.release_to(mark);
        r?;
        Ok(if pipeline.negate {
            i32::from(status == 0)
        } else {
            status
        })
    }

    /// Runs one command.
    pub fn run_command<'a>(&'a mut self, cmd: &'a Command, io: &'a Io) -> BoxFut<'a, Run> {
        Box::pin(async move {
            self.step().await?;
            match cmd {
                Command::Simple {
                    assigns,
                    words,
                    redirs,
                } => self.run_simple(assigns, words, redirs, io).await,
                Command::FuncDef(name, body) => {
                    self.funcs.insert(name.clone(), body.clone());
                    Ok(0)
                }
                Command::Compound(compound, redirs) => {
                    let Some(io) = self.redirect(redirs, io).await else {
                        return Ok(1);
                    };
                    self.run_compound(compound, &io).await
                }
            }
        })
    }

    pub(super) async fn run_compound(&mut self, compound: &Compound, io: &Io) -> Run {
        match compound {
            Compound::Group(list) => self.run_list(list, io).await,
            Compound::Subshell(list) => {
                self.nest().await?;
                self.save(Saved {
                    cwd: Some(self.cwd.clone()),
                    vars: Some(self.vars.clone()),
                    funcs: Some(self.funcs.clone()),
                    positional: Some(self.positional.clone()),
                    ..Saved::default()
                });
                let r = self.run_list(list, io).await;
                self.restore();
                self.nesting -= 1;
                self.child_status(r, &io.stderr).await
            }
            Compound::If(clauses, otherwise) => {
                for (cond, body) in clauses {
                    if self.run_condition(cond, io).await? == 0 {
                        return self.run_list(body, io).await;
                    }
                }
                match otherwise {
                    Some(body) => self.run_list(body, io).await,
                    None => Ok(0),
                }
            }
            Compound::While(until, cond, body) => {
                let mut status = 0;
                loop {
                    self.step().await?;
                    let c = self.run_condition(cond, io).await?;
                    if (c == 0) == *until {
                        break;
                    }
                    match after_body(self.run_list(body, io).await)? {
                        AfterBody::Next(Some(s)) => status = s,
                        AfterBody::Next(None) => {}
                        AfterBody::Stop => break,
                    }
                }
                Ok(status)
            }
            Compound::Case(subject, arms) => {
                let mark = self.meter.mark();
                let r = async {
                    let subject = self.expand_no_split(subject, io).await?;
                    for (patterns, body) in arms {
                        for pattern in patterns {
                            let pattern = self.expand_no_split(pattern, io).await?;
                            if self.glob_matches(&pattern, &subject).await? {
                                return Ok(Some(body));
                            }
                        }
                    }
                    Ok(None)
                }
                .await;
                self.meter.release_to(mark);
                match r? {
                    Some(body) => self.run_list(body, io).await,
                    None => Ok(0),
                }
            }
            Compound::For(name, words, body) => {
                // The words are held (and charged) while the loop runs.
                let mark = self.meter.mark();
                let r = async {
                    let values = match words {
                        Some(words) => {
                            let mut v = Vec::new();
                            for w in words {
                                v.extend(self.expand_word(w, io).await?);
                            }
                            v
                        }
                        None => {
                            use crate::shell::budget::HeapSize;
                            self.reserve(self.positional.heap_size())?;
                            self.positional.clone()
                        }
                    };
                    let mut status = 0;
                    for value in values {
                        self.step().await?;
                        self.set_var(name, value);
                        match after_body(self.run_list(body, io).await)? {
                            AfterBody::Next(Some(s)) => status = s,
                            AfterBody::Next(None) => {}
                            AfterBody::Stop => break,
                        }
                    }
                    Ok(status)
                }
                .await;
                self.meter.release_to(mark);
                r
            }
        }
    }

    /// Enters one more level of a child shell (subshell, `$(…)`, `sh`, a script).
    /// On the device each is a process, so a runaway one is a fork bomb: past
    /// [`MAX_NESTING`] the line stalls.
    pub async fn nest(&mut self) -> Result<(), Flow> {
        if self.nesting >= MAX_NESTING {
            return self.stall("nesting").await;
        }
        self.nesting += 1;
        Ok(())
    }

    /// Enters one more level of function call. Ash recurses on its C stack, so
    /// runaway recursion crashes the shell (SIGSEGV) past [`MAX_NESTING`].
    pub fn nest_call(&mut self) -> Result<(), Flow> {
        if self.nesting >= MAX_NESTING {
            self.event(ShellEvent::Budget("recursion"));
            return Err(Flow::Fatal(Fatal::Segfault));
        }
        self.nesting += 1;
        Ok(())
    }

    /// Runs a simple command; what its expansions reserved is released when it ends.
    pub(super) async fn run_simple(
        &mut self,
        assigns: &[(String, Word)],
        words: &[Word],
        redirs: &[Redir],
        io: &Io,
    ) -> Run {
        let mark = self.meter.mark();
        let r = self.run_simple_charged(assigns, words, redirs, io).await;
        self.meter.release_to(mark);
        r
    }

    pub(super) async fn run_simple_charged(
        &mut self,
        assigns: &[(String, Word)],
        words: &[Word],
        redirs: &[Redir],
        io: &Io,
    ) -> Run {
        self.subst_status = None;
        let mut argv: Vec<Vec<u8>> = Vec::new();
        for w in words {
            argv.extend(self.expand_word(w, io).await?);
        }
        let mut values: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, w) in assigns {
            let v = self.expand_no_split(w, io).await?;
            values.push((name.clone(), v));
        }
        let Some(io) = self.redirect(redirs, io).await else {
            return Ok(1);
        };
        if let Some((name, _)) = values.iter().find(|(n, _)| self.readonly.contains(n)) {
            let mut m = name.clone().into_bytes();
            m.extend_from_slice(b": is read only");
            self.shell_error(&io, &m).await;
            return Err(Flow::Error(2));
        }
        if argv.is_empty() {
            for (name, v) in values {
                self.set_var(&name, v);
            }
            return Ok(self.status_after_substitution());
        }
        // An alias names the command's first words.
        if let Some(value) = argv.first().and_then(|n| {
            self.line_aliases
                .get(&String::from_utf8_lossy(n).into_owned())
        }) {
            let mut expanded: Vec<Vec<u8>> = value
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            expanded.extend(argv.into_iter().skip(1));
            argv = expanded;
        }
        if self.xtrace {
            let mut line = b"+ ".to_vec();
            line.extend_from_slice(&argv.join(&b' '));
            line.push(b'\n');
            self.write(&io.stderr, &line).await;
        }
        // Assignments before a command last only for it (special builtins aside).
        let special = argv.first().is_some_and(|n| {
            matches!(
                n.as_slice(),
                b":" | b"."
                    | b"eval"
                    | b"exec"
                    | b"exit"
                    | b"export"
                    | b"readonly"
                    | b"return"
                    | b"set"
                    | b"shift"
                    | b"trap"
                    | b"unset"
            )
        });
        let saved: Shadowed = if special {
            Vec::new()
        } else {
            values
                .iter()
                .map(|(n, _)| (n.clone(), self.vars.get(n).cloned()))
                .collect()
        };
        let shadowed: usize = saved
            .iter()
            .map(|(n, v)| n.capacity() + v.as_ref().map_or(0, |(v, _)| v.capacity()))
            .sum();
        self.reserve(shadowed)?;
        for (name, v) in values {
            self.set_var(&name, v);
        }
        let r = self.dispatch(argv, &io).await;
        self.restore_vars(saved);
        match r {
            Ok(s) if s != 0 && self.errexit && self.conditions == 0 => Err(Flow::Exit(s)),
            r => r,
        }
    }

    /// An assignment-only command's status: its last command substitution's.
    pub(super) fn status_after_substitution(&self) -> i32 {
        self.subst_status.unwrap_or(0)
    }

    /// Finds and runs a command by name, then hands on the files it finished.
    pub async fn dispatch(&mut self, argv: Vec<Vec<u8>>, io: &Io) -> Run {
        let r = self.dispatch_inner(argv, io).await;
        for f in self.vfs.take_finished() {
            self.event(ShellEvent::File(f));
        }
        let staged = self.vfs.take_staged();
        if !staged.is_empty() {
            let mut chan = self.chan();
            for s in staged {
                crate::vfs::queue_staged(&mut chan.staged, s);
            }
        }
        r
    }

    pub(super) async fn dispatch_inner(&mut self, argv: Vec<Vec<u8>>, io: &Io) -> Run {
        let Some(name) = argv.first().cloned() else {
            return Ok(0);
        };
        if name == b"exec" && argv.len() > 1 {
            // The shell becomes the program (an applet or a file, never a function or
            // a builtin); when it ends, so does this shell, with its status.
            let program: Vec<Vec<u8>> = argv.into_iter().skip(1).collect();
            let status = self.run_program(program, io, true).await?;
            return Err(Flow::Exit(status));
        }
        if let Ok(n) = std::str::from_utf8(&name) {
            if let Some(body) = self.funcs.get(n).cloned() {
                return self.call_function(&body, argv, io).await;
            }
            if let Some(r) = crate::shell::builtins::run(self, n, &argv, io).await {
                return r;
            }
        }
        self.run_program(argv, io, false).await
    }

    /// Runs a program: a file by its path, or one of the device's applets by name
    /// (`via_exec`: as `exec` runs it, which words its not-found error its own way).
    async fn run_program(&mut self, argv: Vec<Vec<u8>>, io: &Io, via_exec: bool) -> Run {
        let Some(name) = argv.first().cloned() else {
            return Ok(0);
        };
        if name.contains(&b'/') {
            return crate::shell::builtins::run_path(self, &name, argv, io).await;
        }
        if let Ok(n) = std::str::from_utf8(&name) {
            let scp = self.device.profile.scp_path();
            let dropbear_scp = scp.is_some_and(|p| crate::vfs::base_name(p.as_bytes()) == name);
            if dropbear_scp || self.device.profile.has_applet(n) {
                let programs = self.config.programs.clone();
                let call = Call {
                    name: n,
                    argv: &argv,
                    io,
                    builtin: false,
                };
                return programs.run(self, call).await;
            }
        }
        let mut msg = name.clone();
        msg.extend_from_slice(b": not found");
        if via_exec {
            self.exec_error(io, &msg).await;
        } else {
            self.shell_error(io, &msg).await;
        }
        self.event(ShellEvent::CommandNotFound(argv.join(&b' ')));
        Ok(127)
    }

    pub(super) async fn call_function(
        &mut self,
        body: &Command,
        argv: Vec<Vec<u8>>,
        io: &Io,
    ) -> Run {
        self.nest_call()?;
        let args = argv.into_iter().skip(1).collect();
        let parent = std::mem::replace(&mut self.positional, args);
        self.save(Saved {
            positional: Some(parent),
            ..Saved::default()
        });
        self.locals.push(Vec::new());
        let r = self.run_command(body, io).await;
        // What `local` shadowed comes back.
        let shadowed = self.locals.pop().unwrap_or_default();
        self.restore_vars(shadowed);
        self.restore();
        self.nesting -= 1;
        match r {
            Ok(s) | Err(Flow::Return(s)) => Ok(s),
            Err(f) => Err(f),
        }
    }

    /// Puts shadowed variables back, latest first.
    pub(super) fn restore_vars(&mut self, saved: Shadowed) {
        let vars = Arc::make_mut(&mut self.vars);
        for (name, before) in saved.into_iter().rev() {
            match before {
                Some(v) => {
                    vars.insert(name, v);
                }
                None => {
                    vars.remove(&name);
                }
            }
        }
    }
}
