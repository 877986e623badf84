//! The AWS CLI shorthand syntax (`Name=encrypted,Values=true,false`, `Ebs={VolumeSize=8}`) and
//! the typing of parsed values against a small shape description, so that `VolumeSize=8` reaches
//! the engine as the number 8 and `Values=true` as the list `["true"]`.
//!
//! Pure: strings in, JSON values out. No files, no clap.

use serde_json::{Map, Value};
use std::fmt;

/// Why a shorthand string did not parse, with the character position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShorthandError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for ShorthandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.position + 1)
    }
}

impl std::error::Error for ShorthandError {}

/// Parses `key=value,key2=value2` into an object whose leaves are strings or lists of strings.
///
/// Values may be `{key=value,…}` (a nested structure), `[a,b]` (an explicit list), a quoted
/// string (`'a,b'` or `"a,b"`, backslash escapes the quote), or a bare string. A bare value
/// followed by `,x` where `x` is not `key=` continues as a list: `Values=a,b` → `["a", "b"]`.
///
/// # Errors
/// A [`ShorthandError`] naming what was expected where.
pub fn parse_struct(input: &str) -> Result<Map<String, Value>, ShorthandError> {
    let mut p = Parser {
        s: input.chars().collect(),
        pos: 0,
    };
    let map = p.keyvals(None)?;
    p.ws();
    if p.pos < p.s.len() {
        return Err(p.err(format!("unexpected '{}'", p.s[p.pos])));
    }
    Ok(map)
}

struct Parser {
    s: Vec<char>,
    pos: usize,
}

impl Parser {
    fn err(&self, message: impl Into<String>) -> ShorthandError {
        ShorthandError {
            position: self.pos.min(self.s.len()),
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// `key=value (, key=value)*`, ending at the end of input or at `close`.
    fn keyvals(&mut self, close: Option<char>) -> Result<Map<String, Value>, ShorthandError> {
        let mut map = Map::new();
        loop {
            self.ws();
            if map.is_empty() && close.is_some() && self.peek() == close {
                return Ok(map);
            }
            let key = self.key()?;
            let value = self.value(close.is_some())?;
            if map.insert(key.clone(), value).is_some() {
                return Err(self.err(format!("the key '{key}' is given twice")));
            }
            self.ws();
            match self.peek() {
                None if close.is_none() => return Ok(map),
                None => return Err(self.err(format!("missing '{}'", close.unwrap_or('}')))),
                Some(c) if Some(c) == close => return Ok(map),
                Some(',') => self.pos += 1,
                Some(c) => return Err(self.err(format!("expected ',' but found '{c}'"))),
            }
        }
    }

    fn key(&mut self) -> Result<String, ShorthandError> {
        self.ws();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '=' {
                let key: String = self.s[start..self.pos].iter().collect::<String>();
                let key = key.trim().to_owned();
                if key.is_empty() {
                    return Err(self.err("expected a key before '='"));
                }
                self.pos += 1;
                return Ok(key);
            }
            if matches!(c, ',' | '{' | '}' | '[' | ']') {
                break;
            }
            self.pos += 1;
        }
        let seen: String = self.s[start..self.pos].iter().collect();
        Err(self.err(format!("expected key=value, found '{}'", seen.trim())))
    }

    /// Whether the text after the current position starts with `key=`.
    fn at_key(&self) -> bool {
        let mut i = self.pos;
        let mut any = false;
        while let Some(&c) = self.s.get(i) {
            match c {
                '=' => return any,
                ',' | '{' | '}' | '[' | ']' | '\'' | '"' => return false,
                c if !c.is_whitespace() => any = true,
                _ => {}
            }
            i += 1;
        }
        false
    }

    fn value(&mut self, nested: bool) -> Result<Value, ShorthandError> {
        self.ws();
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let map = self.keyvals(Some('}'))?;
                self.pos += 1; // the '}' keyvals stopped at
                Ok(Value::Object(map))
            }
            Some('[') => self.list(),
            _ => {
                let first = self.scalar(nested)?;
                let mut items = vec![Value::String(first)];
                // `Values=a,b,c`: bare values after a comma that are not `key=` extend a list.
                loop {
                    let save = self.pos;
                    self.ws();
                    if self.peek() != Some(',') {
                        self.pos = save;
                        break;
                    }
                    self.pos += 1;
                    if self.at_key() {
                        self.pos = save;
                        break;
                    }
                    items.push(Value::String(self.scalar(nested)?));
                }
                if items.len() == 1 {
                    Ok(items.pop().unwrap_or(Value::Null))
                } else {
                    Ok(Value::Array(items))
                }
            }
        }
    }

    fn list(&mut self) -> Result<Value, ShorthandError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(']') {
                self.pos += 1;
                return Ok(Value::Array(items));
            }
            let item = match self.peek() {
                Some('{') => {
                    self.pos += 1;
                    let map = self.keyvals(Some('}'))?;
                    self.pos += 1;
                    Value::Object(map)
                }
                Some('[') => self.list()?,
                _ => Value::String(self.scalar(true)?),
            };
            items.push(item);
            self.ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {}
                None => return Err(self.err("missing ']'")),
                Some(c) => return Err(self.err(format!("expected ',' or ']' but found '{c}'"))),
            }
        }
    }

    /// A quoted or bare string. Bare strings end at ',' and, inside `{}`/`[]`, at '}' or ']'.
    fn scalar(&mut self, nested: bool) -> Result<String, ShorthandError> {
        self.ws();
        if let Some(q @ ('\'' | '"')) = self.peek() {
            self.pos += 1;
            let mut out = String::new();
            loop {
                match self.peek() {
                    None => return Err(self.err(format!("missing closing {q}"))),
                    Some('\\') if matches!(self.s.get(self.pos + 1), Some(&c) if c == q || c == '\\') =>
                    {
                        out.push(self.s[self.pos + 1]);
                        self.pos += 2;
                    }
                    Some(c) if c == q => {
                        self.pos += 1;
                        return Ok(out);
                    }
                    Some(c) => {
                        out.push(c);
                        self.pos += 1;
                    }
                }
            }
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == ',' || (nested && matches!(c, '}' | ']')) {
                break;
            }
            self.pos += 1;
        }
        Ok(self.s[start..self.pos]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned())
    }
}

/// The type of a request field, as far as the CLI needs to know it to type shorthand values.
#[derive(Debug)]
pub enum Shape {
    String,
    Integer,
    Boolean,
    /// A list; a single value becomes a one-element list.
    List(&'static Shape),
    /// A structure with known members; unknown members are kept as given (the engine rejects
    /// them with its own error).
    Structure(&'static [(&'static str, &'static Shape)]),
    /// A string-to-string map (`EncryptionContext`).
    StringMap,
}

static STRING: Shape = Shape::String;
static INTEGER: Shape = Shape::Integer;
static BOOLEAN: Shape = Shape::Boolean;
static STRINGS: Shape = Shape::List(&STRING);

/// `EbsBlockDevice`.
pub static EBS: Shape = Shape::Structure(&[
    ("SnapshotId", &STRING),
    ("VolumeSize", &INTEGER),
    ("VolumeType", &STRING),
    ("DeleteOnTermination", &BOOLEAN),
    ("Encrypted", &BOOLEAN),
    ("KmsKeyId", &STRING),
    ("Iops", &INTEGER),
    ("Throughput", &INTEGER),
]);

/// `BlockDeviceMapping`.
pub static BLOCK_DEVICE_MAPPING: Shape = Shape::Structure(&[
    ("DeviceName", &STRING),
    ("VirtualName", &STRING),
    ("NoDevice", &STRING),
    ("Ebs", &EBS),
]);

/// `Filter`.
pub static FILTER: Shape = Shape::Structure(&[("Name", &STRING), ("Values", &STRINGS)]);

/// `LaunchPermission` / `CreateVolumePermission` entries.
static PERMISSION: Shape = Shape::Structure(&[("UserId", &STRING), ("Group", &STRING)]);
static PERMISSIONS: Shape = Shape::List(&PERMISSION);

/// `LaunchPermissionModifications` / `CreateVolumePermissionModifications`.
pub static PERMISSION_MODIFICATIONS: Shape =
    Shape::Structure(&[("Add", &PERMISSIONS), ("Remove", &PERMISSIONS)]);

/// `AttributeValue`.
pub static ATTRIBUTE_VALUE: Shape = Shape::Structure(&[("Value", &STRING)]);

/// `Placement`.
pub static PLACEMENT: Shape = Shape::Structure(&[("AvailabilityZone", &STRING)]);

/// `RunInstancesMonitoringEnabled`.
pub static MONITORING: Shape = Shape::Structure(&[("Enabled", &BOOLEAN)]);

/// An EC2 `Tag`.
pub static TAG: Shape = Shape::Structure(&[("Key", &STRING), ("Value", &STRING)]);

/// `TagSpecification`.
pub static TAG_SPECIFICATION: Shape =
    Shape::Structure(&[("ResourceType", &STRING), ("Tags", &TAGS)]);
static TAGS: Shape = Shape::List(&TAG);

/// A KMS `Tag`.
pub static KMS_TAG: Shape = Shape::Structure(&[("TagKey", &STRING), ("TagValue", &STRING)]);

/// `SnapshotDiskContainer` (ImportSnapshot's `--disk-container`).
pub static DISK_CONTAINER: Shape = Shape::Structure(&[
    ("Description", &STRING),
    ("Format", &STRING),
    ("Url", &STRING),
    ("UserBucket", &USER_BUCKET),
]);

static USER_BUCKET: Shape = Shape::Structure(&[("S3Bucket", &STRING), ("S3Key", &STRING)]);

/// `EncryptionContext`.
pub static STRING_MAP: Shape = Shape::StringMap;

/// Types a value parsed from shorthand (strings and lists of strings) against `shape`.
///
/// # Errors
/// A message naming the member whose value does not fit.
pub fn coerce(value: Value, shape: &Shape, at: &str) -> Result<Value, String> {
    let name = if at.is_empty() { "the value" } else { at };
    match (shape, value) {
        (Shape::String, Value::String(s)) => Ok(Value::String(s)),
        (Shape::String, v) => Err(format!("{name} must be a single string, not {v}")),
        (Shape::Integer, Value::String(s)) => s
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{name} must be an integer, not '{s}'")),
        (Shape::Integer, v @ Value::Number(_)) => Ok(v),
        (Shape::Integer, v) => Err(format!("{name} must be an integer, not {v}")),
        (Shape::Boolean, Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{name} must be true or false, not '{s}'")),
        },
        (Shape::Boolean, v @ Value::Bool(_)) => Ok(v),
        (Shape::Boolean, v) => Err(format!("{name} must be true or false, not {v}")),
        (Shape::List(item), Value::Array(items)) => items
            .into_iter()
            .map(|v| coerce(v, item, at))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (Shape::List(item), v) => Ok(Value::Array(vec![coerce(v, item, at)?])),
        (Shape::Structure(members), Value::Object(map)) => {
            let mut out = Map::new();
            for (k, v) in map {
                let v = match members.iter().find(|(m, _)| *m == k) {
                    Some((_, shape)) => coerce(v, shape, &k)?,
                    None => v,
                };
                out.insert(k, v);
            }
            Ok(Value::Object(out))
        }
        (Shape::Structure(_), v) => {
            Err(format!("{name} must be a structure (Key=Value,…), not {v}"))
        }
        (Shape::StringMap, Value::Object(map)) => {
            for (k, v) in &map {
                if !v.is_string() {
                    return Err(format!("the value of {k} must be a single string, not {v}"));
                }
            }
            Ok(Value::Object(map))
        }
        (Shape::StringMap, v) => Err(format!("{name} must be key=value pairs, not {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Value {
        Value::Object(parse_struct(s).unwrap())
    }

    #[test]
    fn simple_pairs() {
        assert_eq!(
            p("Name=encrypted,Values=true"),
            json!({"Name": "encrypted", "Values": "true"})
        );
        assert_eq!(
            p(" AvailabilityZone = us-east-1a "),
            json!({"AvailabilityZone": "us-east-1a"})
        );
    }

    #[test]
    fn bare_values_after_a_comma_continue_a_list() {
        assert_eq!(
            p("Name=status,Values=pending,completed"),
            json!({"Name": "status", "Values": ["pending", "completed"]})
        );
        assert_eq!(
            p("Values=a,b,Name=x"),
            json!({"Values": ["a", "b"], "Name": "x"}),
            "a key= after the list ends it"
        );
    }

    #[test]
    fn explicit_lists_nested_structures_and_quotes() {
        assert_eq!(p("Values=[a,b]"), json!({"Values": ["a", "b"]}));
        assert_eq!(p("Values=[]"), json!({"Values": []}));
        assert_eq!(
            p("DeviceName=/dev/sdf,Ebs={VolumeSize=8,Encrypted=true}"),
            json!({"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": "8", "Encrypted": "true"}})
        );
        assert_eq!(
            p("Name='a,b',Other=\"x\\\"y\""),
            json!({"Name": "a,b", "Other": "x\"y"})
        );
        assert_eq!(p("NoDevice="), json!({"NoDevice": ""}));
        assert_eq!(
            p("Values=[{A=1},{B=2}]"),
            json!({"Values": [{"A": "1"}, {"B": "2"}]})
        );
        assert_eq!(
            p("Key=a=b"),
            json!({"Key": "a=b"}),
            "only the first '=' separates"
        );
    }

    #[test]
    fn errors_say_where() {
        let e = parse_struct("encrypted").unwrap_err();
        assert!(e.message.contains("expected key=value"), "{e}");
        let e = parse_struct("Ebs={VolumeSize=8").unwrap_err();
        assert!(e.message.contains("missing '}'"), "{e}");
        let e = parse_struct("Values=[a,b").unwrap_err();
        assert!(e.message.contains("missing ']'"), "{e}");
        let e = parse_struct("A=1,A=2").unwrap_err();
        assert!(e.message.contains("twice"), "{e}");
        let e = parse_struct("A='open").unwrap_err();
        assert!(e.message.contains("closing"), "{e}");
        assert!(parse_struct("=x").is_err());
    }

    #[test]
    fn coercion_types_known_members() {
        let v = coerce(
            p("DeviceName=/dev/sdf,Ebs={VolumeSize=8,Encrypted=TRUE}"),
            &BLOCK_DEVICE_MAPPING,
            "",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 8, "Encrypted": true}})
        );
        let v = coerce(p("Name=encrypted,Values=true"), &FILTER, "").unwrap();
        assert_eq!(v, json!({"Name": "encrypted", "Values": ["true"]}));
        let v = coerce(p("Other=1"), &FILTER, "").unwrap();
        assert_eq!(
            v,
            json!({"Other": "1"}),
            "unknown members pass through for the engine to judge"
        );
    }

    #[test]
    fn coercion_errors_name_the_member() {
        let e = coerce(
            p("DeviceName=/dev/sdf,Ebs={VolumeSize=big}"),
            &BLOCK_DEVICE_MAPPING,
            "",
        )
        .unwrap_err();
        assert!(e.contains("VolumeSize") && e.contains("integer"), "{e}");
        let e = coerce(p("Ebs={Encrypted=yes}"), &BLOCK_DEVICE_MAPPING, "").unwrap_err();
        assert!(e.contains("Encrypted"), "{e}");
        let e = coerce(p("Name=a,b"), &FILTER, "").unwrap_err();
        assert!(e.contains("Name"), "{e}");
        let e = coerce(p("k=a,b"), &STRING_MAP, "").unwrap_err();
        assert!(e.contains('k'), "{e}");
    }
}
