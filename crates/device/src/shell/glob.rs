//! Pathname expansion (`*`, `?`, `[…]`) over the virtual file system, and the
//! pattern matcher it and `${x#pat}` share.

use crate::vfs::Vfs;

/// Most names one pattern may expand to.
const MAX_MATCHES: usize = 4096;

/// Whether `name` matches the shell pattern `pat`.
pub fn matches(pat: &[u8], name: &[u8]) -> bool {
    let mut unlimited = u64::MAX;
    matches_within(pat, name, &mut unlimited).unwrap_or(false)
}

/// Whether `name` matches `pat`, taking at most `fuel` steps (each step compares one
/// byte, or goes back to the last `*`; `fuel` is left with what was not used).
/// `None` when the fuel ran out first: `*a*a*b` against a megabyte of `a` is
/// quadratic, and a line has only so much work to spend.
pub fn matches_within(pat: &[u8], name: &[u8], fuel: &mut u64) -> Option<bool> {
    // Iterative matcher with single-star backtracking: linear in practice, no
    // recursion on attacker input.
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        *fuel = fuel.checked_sub(1)?;
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => {
                p += 1;
                n += 1;
                continue;
            }
            Some(b'[') => {
                if let Some((ok, next)) = class(pat, p, name.get(n).copied().unwrap_or(0)) {
                    if ok {
                        p = next;
                        n += 1;
                        continue;
                    }
                } else if name.get(n) == Some(&b'[') {
                    p += 1;
                    n += 1;
                    continue;
                }
            }
            Some(&c) if name.get(n) == Some(&c) => {
                p += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return Some(false),
        }
    }
    while pat.get(p) == Some(&b'*') {
        p += 1;
    }
    Some(p == pat.len())
}

/// `[…]` at `pat[start]`: (whether `c` is in it, index after it); None if unterminated.
fn class(pat: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(pat.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let b = *pat.get(i)?;
        if b == b']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&e| e != b']') {
            let e = *pat.get(i + 2)?;
            if b <= c && c <= e {
                found = true;
            }
            i += 3;
        } else {
            if b == c {
                found = true;
            }
            i += 1;
        }
    }
}

fn has_magic(s: &[u8]) -> bool {
    s.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Expands a pattern to sorted matching paths; empty if nothing matches.
pub fn expand(vfs: &Vfs, cwd: &[u8], pattern: &[u8]) -> Vec<Vec<u8>> {
    let absolute = pattern.first() == Some(&b'/');
    let comps: Vec<&[u8]> = pattern
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    // (path as typed so far, canonical dir to look in)
    let mut current: Vec<(Vec<u8>, Vec<u8>)> = vec![(
        if absolute { b"/".to_vec() } else { Vec::new() },
        if absolute {
            b"/".to_vec()
        } else {
            cwd.to_vec()
        },
    )];
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for (typed, dir) in &current {
            let join = |t: &[u8], name: &[u8]| -> Vec<u8> {
                let mut v = t.to_vec();
                if !v.is_empty() && !v.ends_with(b"/") {
                    v.push(b'/');
                }
                v.extend_from_slice(name);
                v
            };
            if has_magic(comp) {
                for name in vfs.list(dir) {
                    if name.first() == Some(&b'.') && comp.first() != Some(&b'.') {
                        continue;
                    }
                    if matches(comp, &name) {
                        let canonical = join(dir, &name);
                        if last
                            || vfs
                                .lookup(b"/", &canonical, true)
                                .is_ok_and(|(_, n)| n.is_dir())
                        {
                            let dir_next = vfs.resolve(b"/", &canonical, true).unwrap_or(canonical);
                            next.push((join(typed, &name), dir_next));
                        }
                    }
                    if next.len() > MAX_MATCHES {
                        return Vec::new();
                    }
                }
            } else {
                let canonical = join(dir, comp);
                if vfs.lookup(b"/", &canonical, false).is_ok() {
                    let dir_next = vfs.resolve(b"/", &canonical, true).unwrap_or(canonical);
                    next.push((join(typed, comp), dir_next));
                }
            }
        }
        current = next;
        if current.is_empty() {
            return Vec::new();
        }
    }
    let mut out: Vec<Vec<u8>> = current.into_iter().map(|(t, _)| t).collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches(b"*", b"abc"));
        assert!(matches(b"a*c", b"abbbc"));
        assert!(!matches(b"a*c", b"abbbd"));
        assert!(matches(b"?b[a-c]", b"xbb"));
        assert!(!matches(b"[!a]", b"a"));
        assert!(matches(b"*.sh", b"bins.sh"));
        // Pathological patterns stay fast.
        let pat = b"*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!matches(pat, &[b'a'; 5000]));
    }
}
