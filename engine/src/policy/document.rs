//! Policy documents: the JSON grammar of IAM identity policies and KMS key policies, parsed into
//! statements, with IAM's messages for what it refuses (`MalformedPolicyDocument`). Pure.

use serde_json::{Map, Value};

/// Which kind of document: an identity policy names no principal; a resource (key) policy must.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Identity,
    Resource,
}

/// Why a document was refused; the message is IAM's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Parsed<T> = std::result::Result<T, PolicyError>;

fn refuse<T>(msg: impl Into<String>) -> Parsed<T> {
    Err(PolicyError(msg.into()))
}

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `2012-10-17` (policy variables are substituted) or `2008-10-17`.
    pub(crate) version: String,
    pub(crate) statements: Vec<Statement>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// A list of patterns, or (`Not…`) everything but them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Patterns {
    pub(crate) negated: bool,
    pub(crate) items: Vec<String>,
}

/// `Principal` / `NotPrincipal`: `"*"` or `{"AWS": …}` (other principal types are kept and never
/// match: there are no service principals here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principals {
    pub(crate) negated: bool,
    pub(crate) any: bool,
    /// ARNs; a bare account id is stored as `arn:aws:iam::ACCOUNT:root`.
    pub(crate) aws: Vec<String>,
}

/// How a condition treats a multi-valued key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetOp {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// The condition operators supported (docs/DECISIONS.md lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    Bool,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    Null,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "StringEquals" => Op::StringEquals,
            "StringNotEquals" => Op::StringNotEquals,
            "StringEqualsIgnoreCase" => Op::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Op::StringNotEqualsIgnoreCase,
            "StringLike" => Op::StringLike,
            "StringNotLike" => Op::StringNotLike,
            "Bool" => Op::Bool,
            "ArnEquals" => Op::ArnEquals,
            "ArnNotEquals" => Op::ArnNotEquals,
            "ArnLike" => Op::ArnLike,
            "ArnNotLike" => Op::ArnNotLike,
            "Null" => Op::Null,
            _ => return None,
        })
    }

    /// Whether the operator is a negation ("not equals"): true when the key is absent.
    pub(crate) fn negated(self) -> bool {
        matches!(
            self,
            Op::StringNotEquals | Op::StringNotEqualsIgnoreCase | Op::StringNotLike
        ) || matches!(self, Op::ArnNotEquals | Op::ArnNotLike)
    }
}

/// One condition: operator, key (lower case: condition keys are case-insensitive), values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Condition {
    pub(crate) op: Op,
    pub(crate) set: SetOp,
    pub(crate) if_exists: bool,
    pub(crate) key: String,
    pub(crate) values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<Principals>,
    pub(crate) action: Patterns,
    pub(crate) resource: Patterns,
    pub(crate) conditions: Vec<Condition>,
}

const SYNTAX: &str = "Syntax errors in policy.";

impl Policy {
    /// Parses a policy document of `kind`.
    ///
    /// # Errors
    /// [`PolicyError`] with IAM's message for a document IAM would refuse.
    pub(crate) fn parse(text: &str, kind: Kind) -> Parsed<Policy> {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => return refuse(SYNTAX),
        };
        let Some(doc) = v.as_object() else {
            return refuse(SYNTAX);
        };
        for k in doc.keys() {
            if !["Version", "Id", "Statement"].contains(&k.as_str()) {
                return refuse(SYNTAX);
            }
        }
        let version = match doc.get("Version") {
            None => "2008-10-17".to_owned(),
            Some(Value::String(s)) if s == "2012-10-17" || s == "2008-10-17" => s.clone(),
            Some(_) => return refuse("The policy failed legacy parsing"),
        };
        let statements = match doc.get("Statement") {
            Some(Value::Object(s)) => vec![statement(s, kind)?],
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .map(|s| match s.as_object() {
                    Some(s) => statement(s, kind),
                    None => refuse(SYNTAX),
                })
                .collect::<Parsed<Vec<_>>>()?,
            _ => return refuse("Missing required field Statement"),
        };
        Ok(Policy {
            version,
            statements,
        })
    }
}

fn strings(v: &Value, what: &str) -> Parsed<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => refuse(format!(
            "Syntax errors in policy: {what} must be a string or a list of strings."
        )),
    };
    match v {
        Value::Array(list) if !list.is_empty() => list.iter().map(one).collect(),
        Value::Array(_) => refuse(format!("Syntax errors in policy: {what} is empty.")),
        other => Ok(vec![one(other)?]),
    }
}

/// The one of `names` present in `s`: at most one may be.
fn one_of<'a>(
    s: &'a Map<String, Value>,
    names: [&'static str; 2],
) -> Parsed<Option<(bool, &'a Value)>> {
    match (s.get(names[0]), s.get(names[1])) {
        (Some(_), Some(_)) => refuse(format!(
            "Syntax errors in policy: a statement has both {} and {}.",
            names[0], names[1]
        )),
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(v)) => Ok(Some((true, v))),
        (None, None) => Ok(None),
    }
}

fn statement(s: &Map<String, Value>, kind: Kind) -> Parsed<Statement> {
    const FIELDS: [&str; 10] = [
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "Id",
    ];
    for k in s.keys() {
        if !FIELDS.contains(&k.as_str()) {
            return refuse(SYNTAX);
        }
    }
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => return refuse(SYNTAX),
    };
    let effect = match s.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(Value::String(e)) => return refuse(format!("Invalid effect: {e}")),
        Some(_) => return refuse(SYNTAX),
        None => return refuse("Missing required field Effect"),
    };
    let principal = match one_of(s, ["Principal", "NotPrincipal"])? {
        Some(_) if kind == Kind::Identity => {
            return refuse("Policy document should not specify a principal.")
        }
        Some((negated, v)) => Some(principals(negated, v)?),
        None if kind == Kind::Resource => {
            return refuse("Policy contains a statement with no principal.")
        }
        None => None,
    };
    let action = match one_of(s, ["Action", "NotAction"])? {
        Some((negated, v)) => {
            let items = strings(v, "Action")?;
            for a in &items {
                if a != "*" && !a.contains(':') {
                    return refuse(
                        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                    );
                }
            }
            Patterns { negated, items }
        }
        None => return refuse("Policy statement must contain actions."),
    };
    let resource = match one_of(s, ["Resource", "NotResource"])? {
        Some((negated, v)) => {
            let items = strings(v, "Resource")?;
            for r in &items {
                if r != "*" && !r.starts_with("arn:") {
                    return refuse(format!("Resource {r} must be in ARN format or \"*\"."));
                }
            }
            Patterns { negated, items }
        }
        None => return refuse("Policy statement must contain resources."),
    };
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(c)) => conditions(c)?,
        Some(_) => return refuse(SYNTAX),
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn principals(negated: bool, v: &Value) -> Parsed<Principals> {
    let invalid = || refuse("Invalid principal in policy");
    match v {
        Value::String(s) if s == "*" => Ok(Principals {
            negated,
            any: true,
            aws: Vec::new(),
        }),
        Value::Object(m) if !m.is_empty() => {
            let mut out = Principals {
                negated,
                any: false,
                aws: Vec::new(),
            };
            for (k, v) in m {
                let values = strings(v, "Principal")?;
                if k != "AWS" {
                    if !["Service", "Federated", "CanonicalUser"].contains(&k.as_str()) {
                        return invalid();
                    }
                    continue;
                }
                for p in values {
                    if p == "*" {
                        out.any = true;
                    } else if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
                        out.aws.push(format!("arn:aws:iam::{p}:root"));
                    } else if valid_iam_arn(&p) {
                        out.aws.push(p);
                    } else {
                        return invalid();
                    }
                }
            }
            Ok(out)
        }
        _ => invalid(),
    }
}

/// `arn:aws:iam::ACCOUNT:root` or `arn:aws:iam::ACCOUNT:user/NAME` (or `role/NAME`).
fn valid_iam_arn(p: &str) -> bool {
    let Some(rest) = p.strip_prefix("arn:aws:iam::") else {
        return false;
    };
    let Some((account, resource)) = rest.split_once(':') else {
        return false;
    };
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (resource == "root"
            || resource
                .strip_prefix("user/")
                .or_else(|| resource.strip_prefix("role/"))
                .is_some_and(|n| !n.is_empty() && !n.contains('*')))
}

fn conditions(c: &Map<String, Value>) -> Parsed<Vec<Condition>> {
    let mut out = Vec::new();
    for (op_name, block) in c {
        let (set, rest) = if let Some(r) = op_name.strip_prefix("ForAnyValue:") {
            (SetOp::ForAnyValue, r)
        } else if let Some(r) = op_name.strip_prefix("ForAllValues:") {
            (SetOp::ForAllValues, r)
        } else {
            (SetOp::Single, op_name.as_str())
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let Some(op) = Op::parse(base) else {
            return refuse(format!("Invalid Condition type : {op_name}."));
        };
        if op == Op::Null && (if_exists || set != SetOp::Single) {
            return refuse(format!("Invalid Condition type : {op_name}."));
        }
        let Some(block) = block.as_object().filter(|b| !b.is_empty()) else {
            return refuse(SYNTAX);
        };
        for (key, values) in block {
            if !key.contains(':') {
                return refuse(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                );
            }
            let values = strings(values, "Condition")?;
            if matches!(op, Op::Bool | Op::Null)
                && values
                    .iter()
                    .any(|v| !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false"))
            {
                return refuse(format!(
                    "Syntax errors in policy: {op_name} takes true or false."
                ));
            }
            out.push(Condition {
                op,
                set,
                if_exists,
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, kind: Kind) -> String {
        Policy::parse(text, kind).unwrap_err().0
    }

    #[test]
    fn statements_as_object_or_list() {
        let one = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}"#;
        let p = Policy::parse(one, Kind::Identity).unwrap();
        assert_eq!(p.statements.len(), 1);
        assert_eq!(p.statements[0].action.items, ["ec2:Describe*"]);
        let two = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"a","Effect":"Allow","NotAction":["kms:*","iam:*"],"Resource":"*"},
            {"Effect":"Deny","Action":"ec2:CreateVolume","NotResource":"arn:aws:ec2:*:*:volume/*",
             "Condition":{"BoolIfExists":{"ec2:Encrypted":false},
                          "ForAnyValue:StringLike":{"aws:PrincipalArn":["arn:*"]}}}]}"#;
        let p = Policy::parse(two, Kind::Identity).unwrap();
        assert!(p.statements[0].action.negated);
        assert_eq!(p.statements[0].sid.as_deref(), Some("a"));
        assert!(p.statements[1].resource.negated);
        let c = &p.statements[1].conditions;
        assert_eq!(c.len(), 2);
        assert!(c
            .iter()
            .any(|c| c.op == Op::Bool && c.if_exists && c.values == ["false"]));
        assert!(c
            .iter()
            .any(|c| c.set == SetOp::ForAnyValue && c.key == "aws:principalarn"));
    }

    #[test]
    fn principals_in_key_policies() {
        let kp = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:user/bob"]},"Action":"kms:*","Resource":"*"}]}"#;
        let p = Policy::parse(kp, Kind::Resource).unwrap();
        let pr = p.statements[0].principal.as_ref().unwrap();
        assert_eq!(
            pr.aws,
            [
                "arn:aws:iam::111122223333:root",
                "arn:aws:iam::444455556666:user/bob"
            ]
        );
        assert_eq!(p.version, "2008-10-17");
        let any =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
        assert!(
            Policy::parse(any, Kind::Resource).unwrap().statements[0]
                .principal
                .as_ref()
                .unwrap()
                .any
        );
        assert_eq!(
            err(any, Kind::Identity),
            "Policy document should not specify a principal."
        );
        let none = r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
        assert_eq!(
            err(none, Kind::Resource),
            "Policy contains a statement with no principal."
        );
        let bad = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}]}"#;
        assert_eq!(err(bad, Kind::Resource), "Invalid principal in policy");
    }

    #[test]
    fn refusals_name_the_fault() {
        assert_eq!(err("not json", Kind::Identity), SYNTAX);
        assert_eq!(err("[]", Kind::Identity), SYNTAX);
        assert_eq!(
            err(r#"{"Version":"2020-01-01","Statement":[]}"#, Kind::Identity),
            "The policy failed legacy parsing"
        );
        assert_eq!(
            err(r#"{"Version":"2012-10-17"}"#, Kind::Identity),
            "Missing required field Statement"
        );
        let no_effect = r#"{"Statement":{"Action":"ec2:*","Resource":"*"}}"#;
        assert_eq!(
            err(no_effect, Kind::Identity),
            "Missing required field Effect"
        );
        let bad_effect = r#"{"Statement":{"Effect":"Maybe","Action":"ec2:*","Resource":"*"}}"#;
        assert_eq!(err(bad_effect, Kind::Identity), "Invalid effect: Maybe");
        let no_vendor = r#"{"Statement":{"Effect":"Allow","Action":"Describe","Resource":"*"}}"#;
        assert!(err(no_vendor, Kind::Identity).starts_with("Actions/Conditions must be prefaced"));
        let no_action = r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#;
        assert_eq!(
            err(no_action, Kind::Identity),
            "Policy statement must contain actions."
        );
        let no_resource = r#"{"Statement":{"Effect":"Allow","Action":"ec2:*"}}"#;
        assert_eq!(
            err(no_resource, Kind::Identity),
            "Policy statement must contain resources."
        );
        let both = r#"{"Statement":{"Effect":"Allow","Action":"ec2:*","NotAction":"kms:*","Resource":"*"}}"#;
        assert!(err(both, Kind::Identity).contains("both Action and NotAction"));
        let op = r#"{"Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"NumericWobbly":{"a:b":"1"}}}}"#;
        assert_eq!(
            err(op, Kind::Identity),
            "Invalid Condition type : NumericWobbly."
        );
        let stray = r#"{"Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Extra":1}}"#;
        assert_eq!(err(stray, Kind::Identity), SYNTAX);
        let arn = r#"{"Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"vol-1"}}"#;
        assert!(err(arn, Kind::Identity).contains("must be in ARN format"));
    }
}
