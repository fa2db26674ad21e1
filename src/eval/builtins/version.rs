//! Debian version order, for `versioncmp()`.

use std::cmp::Ordering;

/// Debian version order (epoch, upstream version, revision; `~` sorts before everything).
pub(crate) fn versioncmp(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| part(ua, ub))
        .then_with(|| part(ra, rb))
}

/// A version's epoch, upstream version and revision.
fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) && !e.is_empty() => {
            (e.parse().unwrap_or(0), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

/// The sort weight of one character of a non-digit run (`None`: the run ended).
fn order(c: Option<char>) -> i32 {
    match c {
        None => 0,
        Some('~') => -1,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

/// Compares two upstream versions or two revisions: alternating non-digit and digit runs.
fn part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    while !a.is_empty() || !b.is_empty() {
        // Non-digit prefix.
        let na = a.find(|c: char| c.is_ascii_digit()).unwrap_or(a.len());
        let nb = b.find(|c: char| c.is_ascii_digit()).unwrap_or(b.len());
        let (pa, pb) = (&a[..na], &b[..nb]);
        let mut ia = pa.chars();
        let mut ib = pb.chars();
        loop {
            let (ca, cb) = (ia.next(), ib.next());
            if ca.is_none() && cb.is_none() {
                break;
            }
            let o = order(ca).cmp(&order(cb));
            if o != Ordering::Equal {
                return o;
            }
        }
        a = &a[na..];
        b = &b[nb..];
        // Digit prefix.
        let da = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
        let db = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
        let xa = a[..da].trim_start_matches('0');
        let xb = b[..db].trim_start_matches('0');
        let o = xa.len().cmp(&xb.len()).then_with(|| xa.cmp(xb));
        if o != Ordering::Equal {
            return o;
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_version_order() {
        assert_eq!(versioncmp("1.0", "1.0"), Ordering::Equal);
        assert_eq!(versioncmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(versioncmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(versioncmp("1:0.1", "2.0"), Ordering::Greater);
        assert_eq!(versioncmp("8.2.7-1", "8.2.7-2"), Ordering::Less);
        assert_eq!(versioncmp("1.0a", "1.0"), Ordering::Greater);
        assert_eq!(versioncmp("1.0+b1", "1.0a"), Ordering::Greater);
    }
}
