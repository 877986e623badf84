//! The IAM JSON policy language, as far as this domain needs it (SEMANTICS §24): parsing identity
//! policies and key policies, and deciding one request against them. Explicit deny wins, then
//! allow, else the request is implicitly denied.
//!
//! Pure: documents and a request description in, a decision out — no catalog, no clock, no I/O.
//! Who the caller is and which policies apply is the caller's business (`authz`, `kms::policy`).

mod document;
mod eval;

pub(crate) use document::{Kind, Policy};
pub(crate) use eval::{evaluate, evaluate_resource, Conditions, Decision, Principal, Query};

/// The policy that stands for the account administrator's (`admin`) permissions: everything.
pub(crate) const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// Whether `text` matches `pattern`, where `*` matches any run of characters (also none) and `?`
/// any one character; `fold` compares ASCII case-insensitively (action names).
pub(crate) fn wildcard_match(pattern: &str, text: &str, fold: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // Iterative glob matching with one backtrack point (the last `*`): linear in practice and
    // never exponential.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("ec2:Describe*", "ec2:DescribeImages", false));
        assert!(wildcard_match("EC2:describe*", "ec2:DescribeImages", true));
        assert!(!wildcard_match(
            "EC2:describe*",
            "ec2:DescribeImages",
            false
        ));
        assert!(wildcard_match("kms:*", "kms:Decrypt", true));
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match("kms:ReEncrypt*", "kms:ReEncryptFrom", true));
        assert!(wildcard_match("a?c", "abc", false));
        assert!(!wildcard_match("a?c", "ac", false));
        assert!(wildcard_match("*a*b*", "xxaxxbxx", false));
        assert!(!wildcard_match("*a*b", "xxaxxbxx", false));
        assert!(wildcard_match(
            "arn:aws:ec2:*:*:volume/*",
            "arn:aws:ec2:us-east-1:111122223333:volume/vol-1",
            false
        ));
        assert!(!wildcard_match("kms:Decrypt", "kms:DecryptX", true));
    }
}
