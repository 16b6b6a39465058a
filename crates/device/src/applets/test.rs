//! `test` and `[`: file tests, string and integer comparisons, `!`, `-a`, `-o`.

use crate::vfs::Node;

use crate::shell::exec::{Io, Sh};

/// Runs `test`/`[`; returns 0 (true), 1 (false) or 2 (error).
pub async fn run(sh: &mut Sh, name: &str, argv: &[Vec<u8>], io: &Io) -> i32 {
    let mut args: Vec<&[u8]> = argv.iter().skip(1).map(Vec::as_slice).collect();
    if name == "[" || name == "[[" {
        let close: &[u8] = if name == "[" { b"]" } else { b"]]" };
        if args.last() != Some(&close) {
            sh.write(&io.stderr, b"sh: missing ]\n").await;
            return 2;
        }
        args.pop();
    }
    match or_expr(sh, &args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(msg) => {
            // ash's builtin names itself `sh`.
            let mut m = b"sh: ".to_vec();
            m.extend_from_slice(&msg);
            m.push(b'\n');
            sh.write(&io.stderr, &m).await;
            2
        }
    }
}

fn or_expr(sh: &Sh, args: &[&[u8]]) -> Result<bool, Vec<u8>> {
    if let Some(i) = args.iter().position(|a| *a == b"-o") {
        return Ok(and_expr(sh, args.get(..i).unwrap_or_default())?
            || or_expr(sh, args.get(i + 1..).unwrap_or_default())?);
    }
    and_expr(sh, args)
}

fn and_expr(sh: &Sh, args: &[&[u8]]) -> Result<bool, Vec<u8>> {
    if let Some(i) = args.iter().position(|a| *a == b"-a") {
        if i > 0 {
            return Ok(primary(sh, args.get(..i).unwrap_or_default())?
                && and_expr(sh, args.get(i + 1..).unwrap_or_default())?);
        }
    }
    primary(sh, args)
}

fn int(a: &[u8]) -> Result<i64, Vec<u8>> {
    std::str::from_utf8(a)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| [a, b": bad number"].concat())
}

fn primary(sh: &Sh, args: &[&[u8]]) -> Result<bool, Vec<u8>> {
    match args {
        [] => Ok(false),
        [b"!", rest @ ..] => Ok(!primary(sh, rest)?),
        [a] => Ok(!a.is_empty()),
        [_, op] if BINARY.contains(op) => Err([*op, b": argument expected"].concat()),
        [op, operand] => {
            let file = |follow: bool| {
                sh.vfs()
                    .lookup(sh.cwd(), operand, follow)
                    .ok()
                    .map(|(_, n)| n.clone())
            };
            Ok(match *op {
                b"-z" => operand.is_empty(),
                b"-n" => !operand.is_empty(),
                b"-e" => file(true).is_some(),
                b"-f" => matches!(file(true), Some(Node::File(..))),
                b"-d" => matches!(file(true), Some(Node::Dir(_))),
                b"-L" | b"-h" => matches!(file(false), Some(Node::Symlink(..))),
                b"-c" => matches!(file(true), Some(Node::Char(..))),
                b"-s" => file(true).is_some_and(|n| n.size() > 0),
                b"-r" | b"-w" => file(true).is_some(),
                b"-x" => file(true).is_some_and(|n| n.meta().mode & 0o111 != 0),
                _ => return Err([*op, b": unknown operand"].concat()),
            })
        }
        [a, op, b] => Ok(match *op {
            b"=" | b"==" => a == b,
            b"!=" => a != b,
            b"-eq" => int(a)? == int(b)?,
            b"-ne" => int(a)? != int(b)?,
            b"-lt" => int(a)? < int(b)?,
            b"-le" => int(a)? <= int(b)?,
            b"-gt" => int(a)? > int(b)?,
            b"-ge" => int(a)? >= int(b)?,
            _ => return Err([*op, b": unknown operand"].concat()),
        }),
        [_, op, _, extra, ..] if BINARY.contains(op) => {
            Err([*extra, b": unknown operand"].concat())
        }
        [first, ..] => Err([*first, b": unknown operand"].concat()),
    }
}

/// The binary operators.
const BINARY: [&[u8]; 9] = [
    b"=", b"==", b"!=", b"-eq", b"-ne", b"-lt", b"-le", b"-gt", b"-ge",
];
