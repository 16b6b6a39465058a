//! `$((…))`: integer arithmetic as ash does it (64-bit, C operators), with a depth
//! limit on the recursive descent.

use super::exec::Sh;

const MAX_DEPTH: usize = 64;

struct P<'a> {
    s: &'a [u8],
    i: usize,
    sh: &'a Sh,
    depth: usize,
    /// Variables assigned so far (`x += 2`, `x++`), in order; read back before
    /// the shell's.
    writes: Vec<(String, i64)>,
}

/// An expression's value and the variables it assigned, for the shell to set.
pub type Evaluated = (i64, Vec<(String, i64)>);

/// Evaluates an expression; `Err` carries ash's message (empty for a generic one).
pub fn eval(sh: &Sh, src: &[u8]) -> Result<Evaluated, String> {
    let mut p = P {
        s: src,
        i: 0,
        sh,
        depth: 0,
        writes: Vec::new(),
    };
    let v = p.ternary()?;
    p.ws();
    if p.i < p.s.len() {
        return Err(String::new());
    }
    Ok((v, p.writes))
}

impl P<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, op: &[u8]) -> bool {
        self.ws();
        if self.s.get(self.i..).is_some_and(|r| r.starts_with(op)) {
            // Do not take "<" out of "<<" or "<=", "&" out of "&&", etc.
            let next = self.s.get(self.i + op.len()).copied();
            let longer = match op {
                b"<" => matches!(next, Some(b'<') | Some(b'=')),
                b">" => matches!(next, Some(b'>') | Some(b'=')),
                b"&" => next == Some(b'&'),
                b"|" => next == Some(b'|'),
                b"!" | b"=" => next == Some(b'='),
                _ => false,
            };
            if longer {
                return false;
            }
            self.i += op.len();
            return true;
        }
        false
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("expression recursion loop detected".into());
        }
        Ok(())
    }

    fn ternary(&mut self) -> Result<i64, String> {
        self.enter()?;
        let c = self.binary(0)?;
        let r = if self.eat(b"?") {
            let a = self.ternary()?;
            if !self.eat(b":") {
                return Err(String::new());
            }
            let b = self.ternary()?;
            if c != 0 {
                a
            } else {
                b
            }
        } else {
            c
        };
        self.depth -= 1;
        Ok(r)
    }

    fn binary(&mut self, level: usize) -> Result<i64, String> {
        const LEVELS: &[&[&[u8]]] = &[
            &[b"||"],
            &[b"&&"],
            &[b"|"],
            &[b"^"],
            &[b"&"],
            &[b"==", b"!="],
            &[b"<=", b">=", b"<", b">"],
            &[b"<<", b">>"],
            &[b"+", b"-"],
            &[b"*", b"/", b"%"],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.binary(level + 1)?;
        'outer: loop {
            for op in ops.iter() {
                if self.eat(op) {
                    let right = self.binary(level + 1)?;
                    left = apply(op, left, right)?;
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Result<i64, String> {
        self.enter()?;
        self.ws();
        // Prefix `++name` / `--name`.
        for (op, delta) in [(&b"++"[..], 1i64), (&b"--"[..], -1)] {
            if self.s.get(self.i..).is_some_and(|r| r.starts_with(op))
                && self
                    .s
                    .get(self.i + 2)
                    .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
            {
                self.i += 2;
                let name = self.name();
                let v = self.read(&name)?.wrapping_add(delta);
                self.writes.push((name, v));
                self.depth -= 1;
                return Ok(v);
            }
        }
        let v = if self.eat(b"-") {
            self.unary()?.wrapping_neg()
        } else if self.eat(b"+") {
            self.unary()?
        } else if self.eat(b"!") {
            i64::from(self.unary()? == 0)
        } else if self.eat(b"~") {
            !self.unary()?
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(v)
    }

    fn primary(&mut self) -> Result<i64, String> {
        self.ws();
        if self.eat(b"(") {
            let v = self.ternary()?;
            if !self.eat(b")") {
                return Err(String::new());
            }
            return Ok(v);
        }
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            self.i += 1;
        }
        let tok = self.s.get(start..self.i).unwrap_or_default();
        if tok.is_empty() {
            return Err(String::new());
        }
        if tok.first().is_some_and(u8::is_ascii_digit) {
            return parse_number(tok).ok_or_else(String::new);
        }
        let name = String::from_utf8_lossy(tok).into_owned();
        self.ws();
        // Postfix `name++` / `name--`.
        for (op, delta) in [(&b"++"[..], 1i64), (&b"--"[..], -1)] {
            if self.s.get(self.i..).is_some_and(|r| r.starts_with(op)) {
                self.i += 2;
                let v = self.read(&name)?;
                self.writes.push((name, v.wrapping_add(delta)));
                return Ok(v);
            }
        }
        // Assignments: `=` and the compound operators (not `==`).
        const ASSIGN: [&[u8]; 11] = [
            b"<<=", b">>=", b"+=", b"-=", b"*=", b"/=", b"%=", b"&=", b"|=", b"^=", b"=",
        ];
        for op in ASSIGN {
            let rest = self.s.get(self.i..).unwrap_or_default();
            if rest.starts_with(op) && !(op == b"=" && rest.get(1) == Some(&b'=')) {
                self.i += op.len();
                let rhs = self.ternary()?;
                // `x OP= y` is `x = x OP y`.
                let v = match op.strip_suffix(b"=").filter(|o| !o.is_empty()) {
                    Some(binary) => apply(binary, self.read(&name)?, rhs)?,
                    None => rhs,
                };
                self.writes.push((name, v));
                return Ok(v);
            }
        }
        self.read(&name)
    }

    /// A name at the cursor.
    fn name(&mut self) -> String {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            self.i += 1;
        }
        String::from_utf8_lossy(self.s.get(start..self.i).unwrap_or_default()).into_owned()
    }

    /// A variable's value: assigned earlier in this expression, else the shell's.
    fn read(&self, name: &str) -> Result<i64, String> {
        if let Some((_, v)) = self.writes.iter().rev().find(|(n, _)| n == name) {
            return Ok(*v);
        }
        let value = self.sh.var(name).unwrap_or_default();
        if value.is_empty() {
            return Ok(0);
        }
        parse_number(&value).ok_or_else(String::new)
    }
}

/// A binary operator's value (C semantics, wrapping; division by zero an error).
fn apply(op: &[u8], left: i64, right: i64) -> Result<i64, String> {
    Ok(match op {
        b"||" => i64::from(left != 0 || right != 0),
        b"&&" => i64::from(left != 0 && right != 0),
        b"|" => left | right,
        b"^" => left ^ right,
        b"&" => left & right,
        b"==" => i64::from(left == right),
        b"!=" => i64::from(left != right),
        b"<=" => i64::from(left <= right),
        b">=" => i64::from(left >= right),
        b"<" => i64::from(left < right),
        b">" => i64::from(left > right),
        b"<<" => left.wrapping_shl(right as u32),
        b">>" => left.wrapping_shr(right as u32),
        b"+" => left.wrapping_add(right),
        b"-" => left.wrapping_sub(right),
        b"*" => left.wrapping_mul(right),
        b"/" | b"%" if right == 0 => return Err("divide by zero".into()),
        b"/" => left.wrapping_div(right),
        b"%" => left.wrapping_rem(right),
        _ => left,
    })
}

fn parse_number(tok: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(tok).ok()?.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok();
    }
    if let Some(octal) = s.strip_prefix('0').filter(|o| !o.is_empty()) {
        return i64::from_str_radix(octal, 8).ok();
    }
    s.parse().ok()
}
