//! Deciding one request against policies: explicit deny wins, then allow, else implicit deny
//! (SEMANTICS §24). Pure.

use super::document::{Condition, Effect, Op, Patterns, Policy, SetOp, Statement};
use super::wildcard_match;
use std::collections::BTreeMap;

/// The request's condition context: key (lower case) → values. Keys absent here are absent from
/// the request, which matters to `…IfExists`, `Null` and the negated operators.
pub(crate) type Conditions = BTreeMap<String, Vec<String>>;

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principal {
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub(crate) arn: String,
    /// The principal's account (12 digits).
    pub(crate) account: String,
}

/// One request as policies see it: principal, action (`service:Name`), resource ARN (or `*`),
/// condition context.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Query<'a> {
    pub(crate) principal: &'a Principal,
    pub(crate) action: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) conditions: &'a Conditions,
}

/// A decision. For identity policies: `Deny`, `Allow` or `None`. For a resource policy, an
/// allow through a statement whose principal is the caller's whole account
/// (`arn:aws:iam::ACCOUNT:root`) is `AllowAccount`: it delegates to the account's identity
/// policies rather than allowing by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// An applicable statement denies: nothing else can allow.
    Deny,
    /// An applicable statement allows (and none denies).
    Allow,
    /// A resource policy allows through the caller's account (and none denies).
    AllowAccount,
    /// No applicable statement: implicitly denied.
    None,
}

impl Decision {
    fn combine(self, other: Decision) -> Decision {
        use Decision::*;
        match (self, other) {
            (Deny, _) | (_, Deny) => Deny,
            (Allow, _) | (_, Allow) => Allow,
            (AllowAccount, _) | (_, AllowAccount) => AllowAccount,
            (None, None) => None,
        }
    }
}

/// The decision of identity policies `policies` on `q`.
pub(crate) fn evaluate<'p>(
    policies: impl IntoIterator<Item = &'p Policy>,
    q: &Query<'_>,
) -> Decision {
    policies
        .into_iter()
        .flat_map(|p| p.statements.iter().map(move |s| (p, s)))
        .filter(|(p, s)| applies(p, s, q))
        .map(|(_, s)| match s.effect {
            Effect::Deny => Decision::Deny,
            Effect::Allow => Decision::Allow,
        })
        .fold(Decision::None, Decision::combine)
}

/// The decision of resource (key) policy `policy` on `q`: as [`evaluate`], with each statement
/// also matched on its principal.
pub(crate) fn evaluate_resource(policy: &Policy, q: &Query<'_>) -> Decision {
    policy
        .statements
        .iter()
        .filter(|s| applies(policy, s, q))
        .filter_map(|s| {
            let how = principal_match(s, q.principal)?;
            Some(match (s.effect, how) {
                (Effect::Deny, _) => Decision::Deny,
                (Effect::Allow, Through::Directly) => Decision::Allow,
                (Effect::Allow, Through::Account) => Decision::AllowAccount,
            })
        })
        .fold(Decision::None, Decision::combine)
}

enum Through {
    Directly,
    Account,
}

fn principal_match(s: &Statement, who: &Principal) -> Option<Through> {
    let p = s.principal.as_ref()?;
    let root = format!("arn:aws:iam::{}:root", who.account);
    let named = p.aws.contains(&who.arn);
    let account = p.aws.contains(&root);
    if p.negated {
        // NotPrincipal: everyone but those listed (a listed account excludes all its users).
        return (!p.any && !named && !account).then_some(Through::Directly);
    }
    if p.any || named {
        Some(Through::Directly)
    } else if account {
        Some(Through::Account)
    } else {
        None
    }
}

fn applies(p: &Policy, s: &Statement, q: &Query<'_>) -> bool {
    let vars = p.version == "2012-10-17";
    matches(&s.action, q.action, true, None)
        && matches(&s.resource, q.resource, false, vars.then_some(q.conditions))
        && s.conditions
            .iter()
            .all(|c| condition(c, q.conditions, vars))
}

/// `${key}` policy variables replaced by the request's (single) value of `key`; a variable
/// whose key the request lacks matches nothing, as IAM treats it.
fn substitute(pattern: &str, ctx: &Conditions) -> Option<String> {
    if !pattern.contains("${") {
        return Some(pattern.to_owned());
    }
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let key = after[..end].to_ascii_lowercase();
        match key.as_str() {
            "*" | "?" | "$" => out.push_str(&key),
            _ => out.push_str(ctx.get(&key)?.first()?),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn matches(p: &Patterns, value: &str, fold: bool, vars: Option<&Conditions>) -> bool {
    let hit = p.items.iter().any(|pat| match vars {
        Some(ctx) => substitute(pat, ctx).is_some_and(|pat| wildcard_match(&pat, value, fold)),
        None => wildcard_match(pat, value, fold),
    });
    hit != p.negated
}

/// Whether context value `v` satisfies policy value `want` under the positive form of `op`.
fn value_matches(op: Op, want: &str, v: &str) -> bool {
    match op {
        Op::StringEquals | Op::StringNotEquals => want == v,
        Op::StringEqualsIgnoreCase | Op::StringNotEqualsIgnoreCase => want.eq_ignore_ascii_case(v),
        Op::StringLike | Op::StringNotLike | Op::ArnLike | Op::ArnNotLike => {
            wildcard_match(want, v, false)
        }
        Op::ArnEquals | Op::ArnNotEquals => wildcard_match(want, v, false),
        Op::Bool => want.eq_ignore_ascii_case(v),
        Op::Null => unreachable!("Null is decided on presence"),
    }
}

fn condition(c: &Condition, ctx: &Conditions, vars: bool) -> bool {
    let present = ctx.get(&c.key).filter(|v| !v.is_empty());
    if c.op == Op::Null {
        let want_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return want_absent == present.is_none();
    }
    let wants: Vec<String> = if vars {
        c.values.iter().filter_map(|w| substitute(w, ctx)).collect()
    } else {
        c.values.clone()
    };
    let Some(values) = present else {
        return match c.set {
            SetOp::ForAllValues => true,
            SetOp::ForAnyValue => false,
            SetOp::Single => c.if_exists || c.op.negated(),
        };
    };
    // One context value satisfies the condition: for a negated operator, it matches none of the
    // policy's values.
    let one = |v: &String| {
        let any = wants.iter().any(|w| value_matches(c.op, w, v));
        any != c.op.negated()
    };
    match c.set {
        SetOp::ForAllValues => values.iter().all(one),
        SetOp::ForAnyValue => values.iter().any(one),
        SetOp::Single => {
            if c.op.negated() {
                values.iter().all(one)
            } else {
                values.iter().any(one)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::document::Kind;
    use super::*;
    use proptest::prelude::*;

    const ACCT: &str = "111122223333";

    fn bob() -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{ACCT}:user/bob"),
            account: ACCT.into(),
        }
    }

    fn ctx(pairs: &[(&str, &str)]) -> Conditions {
        let mut c = Conditions::new();
        for (k, v) in pairs {
            c.entry(k.to_ascii_lowercase())
                .or_default()
                .push((*v).to_owned());
        }
        c
    }

    fn id(text: &str) -> Policy {
        Policy::parse(text, Kind::Identity).unwrap()
    }

    fn decide(policy: &str, action: &str, resource: &str, c: &Conditions) -> Decision {
        let who = bob();
        let q = Query {
            principal: &who,
            action,
            resource,
            conditions: c,
        };
        evaluate([&id(policy)], &q)
    }

    #[test]
    fn actions_resources_and_not_forms() {
        let none = Conditions::new();
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"EC2:describe*","Resource":"*"}}"#;
        assert_eq!(decide(p, "ec2:DescribeImages", "*", &none), Decision::Allow);
        assert_eq!(decide(p, "ec2:CreateVolume", "*", &none), Decision::None);
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"kms:*","Resource":"arn:aws:ec2:*:*:volume/*"}}"#;
        let vol = "arn:aws:ec2:us-east-1:111122223333:volume/vol-1";
        assert_eq!(decide(p, "ec2:DeleteVolume", vol, &none), Decision::Allow);
        assert_eq!(decide(p, "kms:Decrypt", vol, &none), Decision::None);
        assert_eq!(
            decide(
                p,
                "ec2:DeleteSnapshot",
                "arn:aws:ec2:us-east-1::snapshot/snap-1",
                &none
            ),
            Decision::None
        );
        let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"},{"Effect":"Deny","Action":"ec2:*","NotResource":"arn:aws:ec2:*:*:volume/*"}]}"#;
        assert_eq!(decide(p, "ec2:DeleteVolume", vol, &none), Decision::Allow);
        assert_eq!(decide(p, "ec2:DescribeImages", "*", &none), Decision::Deny);
    }

    #[test]
    fn conditions() {
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:CreateVolume","Resource":"*","Condition":{"Bool":{"ec2:Encrypted":"true"}}}}"#;
        let enc = ctx(&[("ec2:Encrypted", "true")]);
        let plain = ctx(&[("ec2:Encrypted", "false")]);
        assert_eq!(decide(p, "ec2:CreateVolume", "*", &enc), Decision::Allow);
        assert_eq!(decide(p, "ec2:CreateVolume", "*", &plain), Decision::None);
        assert_eq!(
            decide(p, "ec2:CreateVolume", "*", &Conditions::new()),
            Decision::None
        );
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"KMS:ViaService":"ec2.us-east-1.amazonaws.com"},"StringNotEquals":{"kms:CallerAccount":"999999999999"}}}}"#;
        let via = ctx(&[
            ("kms:ViaService", "ec2.us-east-1.amazonaws.com"),
            ("kms:CallerAccount", ACCT),
        ]);
        assert_eq!(decide(p, "kms:Decrypt", "*", &via), Decision::Allow);
        let direct = ctx(&[("kms:CallerAccount", ACCT)]);
        assert_eq!(decide(p, "kms:Decrypt", "*", &direct), Decision::None);
        // Negated operators hold when the key is absent; IfExists too.
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringNotLike":{"ec2:KmsKeyId":"*bad*"},"StringEqualsIfExists":{"aws:username":"bob"}}}}"#;
        assert_eq!(
            decide(p, "ec2:RunInstances", "*", &Conditions::new()),
            Decision::Allow
        );
        let bad = ctx(&[("ec2:KmsKeyId", "arn:bad:1")]);
        assert_eq!(decide(p, "ec2:RunInstances", "*", &bad), Decision::None);
        let other = ctx(&[("aws:username", "carol")]);
        assert_eq!(decide(p, "ec2:RunInstances", "*", &other), Decision::None);
        // Null, ArnLike, ForAnyValue / ForAllValues.
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*","Condition":{"Null":{"kms:GrantIsForAWSResource":"false"},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/b*"},"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","CreateGrant"]}}}}"#;
        let mut c = ctx(&[
            ("kms:GrantIsForAWSResource", "true"),
            ("aws:PrincipalArn", "arn:aws:iam::111122223333:user/bob"),
            ("kms:GrantOperations", "Decrypt"),
        ]);
        assert_eq!(decide(p, "kms:CreateGrant", "*", &c), Decision::Allow);
        c.get_mut("kms:grantoperations")
            .unwrap()
            .push("Encrypt".into());
        assert_eq!(decide(p, "kms:CreateGrant", "*", &c), Decision::None);
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"kms:EncryptionContext:aws:ebs:id":"vol-*"}}}}"#;
        let vol = ctx(&[("kms:EncryptionContext:aws:ebs:id", "vol-1")]);
        let snap = ctx(&[("kms:EncryptionContext:aws:ebs:id", "snap-1")]);
        assert_eq!(decide(p, "kms:Decrypt", "*", &vol), Decision::Allow);
        assert_eq!(decide(p, "kms:Decrypt", "*", &snap), Decision::None);
    }

    #[test]
    fn policy_variables() {
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#;
        let me = ctx(&[("aws:username", "bob")]);
        let arn = |u: &str| format!("arn:aws:iam::{ACCT}:user/{u}");
        assert_eq!(
            decide(p, "iam:CreateAccessKey", &arn("bob"), &me),
            Decision::Allow
        );
        assert_eq!(
            decide(p, "iam:CreateAccessKey", &arn("carol"), &me),
            Decision::None
        );
        // Without the 2012 version, variables are literal text.
        let old = p.replace("\"Version\":\"2012-10-17\",", "");
        assert_eq!(
            decide(&old, "iam:CreateAccessKey", &arn("bob"), &me),
            Decision::None
        );
    }

    #[test]
    fn key_policy_principals() {
        let kp = |principal: &str| {
            Policy::parse(
                &format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"kms:*","Resource":"*"}}}}"#),
                Kind::Resource,
            )
            .unwrap()
        };
        let who = bob();
        let none = Conditions::new();
        let q = Query {
            principal: &who,
            action: "kms:Decrypt",
            resource: "*",
            conditions: &none,
        };
        assert_eq!(evaluate_resource(&kp(&who.arn), &q), Decision::Allow);
        assert_eq!(evaluate_resource(&kp(ACCT), &q), Decision::AllowAccount);
        assert_eq!(
            evaluate_resource(&kp("arn:aws:iam::111122223333:root"), &q),
            Decision::AllowAccount
        );
        assert_eq!(evaluate_resource(&kp("444455556666"), &q), Decision::None);
        assert_eq!(evaluate_resource(&kp("*"), &q), Decision::Allow);
        assert_eq!(
            evaluate_resource(&kp("arn:aws:iam::111122223333:user/carol"), &q),
            Decision::None
        );
    }

    // ----- properties -----

    fn arb_statement() -> impl Strategy<Value = String> {
        let effect = prop_oneof![Just("Allow"), Just("Deny")];
        let action = prop_oneof![
            Just("\"*\""),
            Just("\"ec2:*\""),
            Just("\"ec2:Describe*\""),
            Just("\"ec2:CreateVolume\""),
            Just("[\"kms:Decrypt\",\"kms:Encrypt\"]"),
            Just("\"kms:*\""),
        ];
        let not_action = any::<bool>();
        let resource = prop_oneof![
            Just("\"*\""),
            Just("\"arn:aws:ec2:*:*:volume/*\""),
            Just("\"arn:aws:kms:*:*:key/*\""),
        ];
        let cond = prop_oneof![
            Just(""),
            Just(r#","Condition":{"Bool":{"ec2:Encrypted":"true"}}"#),
            Just(r#","Condition":{"StringEquals":{"aws:username":"bob"}}"#),
            Just(r#","Condition":{"StringNotEquals":{"kms:CallerAccount":"111122223333"}}"#),
        ];
        (effect, action, not_action, resource, cond).prop_map(|(e, a, n, r, c)| {
            let a_key = if n { "NotAction" } else { "Action" };
            format!(r#"{{"Effect":"{e}","{a_key}":{a},"Resource":{r}{c}}}"#)
        })
    }

    fn arb_query() -> impl Strategy<Value = (String, String, Conditions)> {
        let action = prop_oneof![
            Just("ec2:DescribeImages"),
            Just("ec2:CreateVolume"),
            Just("kms:Decrypt"),
            Just("kms:CreateKey"),
            Just("iam:CreateUser"),
        ];
        let resource = prop_oneof![
            Just("*"),
            Just("arn:aws:ec2:us-east-1:111122223333:volume/vol-1"),
            Just("arn:aws:kms:us-east-1:111122223333:key/k"),
        ];
        let enc = prop_oneof![Just(None), Just(Some("true")), Just(Some("false"))];
        let user = prop_oneof![Just("bob"), Just("carol")];
        (action, resource, enc, user).prop_map(|(a, r, e, u)| {
            let mut c = ctx(&[("aws:username", u), ("kms:CallerAccount", ACCT)]);
            if let Some(e) = e {
                c.insert("ec2:encrypted".into(), vec![e.into()]);
            }
            (a.to_owned(), r.to_owned(), c)
        })
    }

    fn doc(statements: &[String]) -> Policy {
        id(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            statements.join(",")
        ))
    }

    fn run(p: &Policy, (a, r, c): &(String, String, Conditions)) -> Decision {
        let who = bob();
        evaluate(
            [p],
            &Query {
                principal: &who,
                action: a,
                resource: r,
                conditions: c,
            },
        )
    }

    proptest! {
        #[test]
        fn an_applicable_deny_always_wins(
            stmts in proptest::collection::vec(arb_statement(), 1..6),
            q in arb_query(),
        ) {
            let base = run(&doc(&stmts), &q);
            // A deny of everything, added anywhere, denies.
            let mut with_deny = stmts.clone();
            with_deny.insert(stmts.len() / 2, r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#.into());
            prop_assert_eq!(run(&doc(&with_deny), &q), Decision::Deny);
            // Whatever the policy, an applicable deny statement in it means Deny.
            let deny_applies = stmts.iter().any(|s| {
                s.contains("\"Deny\"") && run(&doc(std::slice::from_ref(s)), &q) == Decision::Deny
            });
            prop_assert_eq!(base == Decision::Deny, deny_applies);
        }

        #[test]
        fn without_an_allow_statement_nothing_is_allowed(
            stmts in proptest::collection::vec(arb_statement(), 1..6),
            q in arb_query(),
        ) {
            let denies: Vec<String> = stmts.iter().map(|s| s.replace("\"Allow\"", "\"Deny\"")).collect();
            prop_assert_ne!(run(&doc(&denies), &q), Decision::Allow);
            prop_assert_eq!(evaluate(std::iter::empty(), &Query {
                principal: &bob(), action: &q.0, resource: &q.1, conditions: &q.2,
            }), Decision::None);
        }

        #[test]
        fn an_unrelated_statement_changes_nothing(
            stmts in proptest::collection::vec(arb_statement(), 1..6),
            q in arb_query(),
            effect in prop_oneof![Just("Allow"), Just("Deny")],
        ) {
            // A statement about a service no query uses.
            let mut more = stmts.clone();
            more.push(format!(r#"{{"Effect":"{effect}","Action":"s3:*","Resource":"*"}}"#));
            prop_assert_eq!(run(&doc(&stmts), &q), run(&doc(&more), &q));
        }

        #[test]
        fn statement_order_does_not_matter(
            stmts in proptest::collection::vec(arb_statement(), 1..6),
            q in arb_query(),
        ) {
            let mut rev = stmts.clone();
            rev.reverse();
            prop_assert_eq!(run(&doc(&stmts), &q), run(&doc(&rev), &q));
        }

        #[test]
        fn wildcards_never_panic_and_star_matches_all(p in "[a-c*?]{0,8}", t in "[a-c]{0,8}") {
            let _ = wildcard_match(&p, &t, false);
            prop_assert!(wildcard_match("*", &t, false));
            prop_assert!(wildcard_match(&t, &t, false));
        }
    }
}
