//! `--generate-cli-skeleton` and `--cli-input-json`, and the `--debug` trace's redaction: all
//! driven by the AWS service models the API endpoint embeds (`server/model/`), as the AWS CLI
//! drives them from botocore's.
//!
//! Pure: values in, values out. Loading `file://` input is `params::load_text`'s.

use blockseal_server::codec::{MemberRef, Model, ShapeType};
use serde_json::{Map, Value};

/// The model that has operation `op` (EC2, KMS or IAM), if any.
pub fn model_of(op: &str) -> Option<&'static Model> {
    [Model::ec2(), Model::kms(), Model::iam()]
        .into_iter()
        .find(|m| m.operation(op).is_some())
}

/// Which side of an operation a skeleton shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    /// A request to fill in and pass back with --cli-input-json
    Input,
    /// What the command prints (after checking the command's parameters)
    Output,
}

/// The skeleton of operation `op`'s input or output, as botocore's `ArgumentGenerator` makes it:
/// strings `""` (input) or the member's name (output), numbers 0, booleans true, lists of one
/// element, maps `{"KeyName": …}`, a structure met again inside itself `{}`. An enum is its
/// first value (botocore picks one at random). Members come in the model's sorted order.
/// `None` for an operation no AWS model has (blockseal's own `ExportSnapshot`).
pub fn skeleton(op: &str, side: Side) -> Option<Value> {
    let model = model_of(op)?;
    let operation = model.operation(op)?;
    let shape = match side {
        Side::Input => operation.input.as_deref(),
        Side::Output => operation.output.as_deref(),
    };
    let Some(shape) = shape else {
        return Some(Value::Object(Map::new()));
    };
    let mut stack = Vec::new();
    Some(generate(model, shape, "", side == Side::Output, &mut stack))
}

fn generate(
    model: &Model,
    shape_name: &str,
    name: &str,
    member_names: bool,
    stack: &mut Vec<String>,
) -> Value {
    let Some(shape) = model.shape(shape_name) else {
        return Value::Null;
    };
    stack.push(shape_name.to_owned());
    let v = match shape.kind {
        ShapeType::Structure => {
            if stack.iter().filter(|s| *s == shape_name).count() > 1 {
                Value::Object(Map::new())
            } else {
                Value::Object(
                    shape
                        .members
                        .iter()
                        .map(|(k, m)| {
                            (k.clone(), generate(model, &m.shape, k, member_names, stack))
                        })
                        .collect(),
                )
            }
        }
        ShapeType::List => {
            let item = shape.member.as_ref().map_or(Value::Null, |m: &MemberRef| {
                generate(model, &m.shape, &m.shape, member_names, stack)
            });
            Value::Array(vec![item])
        }
        ShapeType::Map => {
            let value = shape.value.as_ref().map_or(Value::Null, |m| {
                generate(model, &m.shape, "", member_names, stack)
            });
            let mut m = Map::new();
            m.insert("KeyName".to_owned(), value);
            Value::Object(m)
        }
        ShapeType::String if member_names => Value::String(name.to_owned()),
        ShapeType::String => Value::String(shape.enum_values.first().cloned().unwrap_or_default()),
        ShapeType::Integer | ShapeType::Long | ShapeType::Short | ShapeType::Byte => Value::from(0),
        ShapeType::Float | ShapeType::Double => Value::from(0.0),
        ShapeType::Boolean => Value::Bool(true),
        ShapeType::Timestamp => Value::String("1970-01-01T00:00:00".to_owned()),
        // botocore leaves blobs out of skeletons (None); JSON's null is the closest.
        _ => Value::Null,
    };
    stack.pop();
    v
}

/// `--cli-input-json`'s request merged with the command line's, as the AWS CLI merges them: the
/// JSON gives every member, a member also given on the command line takes that value. A member
/// the command line only filled in by default (`--region` as `SourceRegion`, `--count 1`)
/// does not override the JSON. `explicit(member)` says whether the command line named it.
///
/// # Errors
/// When the JSON is not an object.
pub fn merge_input(
    input: &str,
    command_line: Value,
    explicit: impl Fn(&str) -> bool,
) -> Result<Value, String> {
    let Value::Object(mut merged) = serde_json::from_str::<Value>(input)
        .map_err(|e| format!("Error parsing parameter 'cli-input-json': Invalid JSON: {e}"))?
    else {
        return Err(
            "Error parsing parameter 'cli-input-json': Invalid JSON: the input must be a JSON \
             object"
                .to_owned(),
        );
    };
    if let Value::Object(cl) = command_line {
        for (k, v) in cl {
            if !merged.contains_key(&k) || explicit(&k) {
                merged.insert(k, v);
            }
        }
    }
    Ok(Value::Object(merged))
}

/// What `--debug` shows of `value`, operation `op`'s input or output: every member whose shape
/// the model marks sensitive (KMS plaintexts, IAM secret keys, user data) and every member
/// called `Plaintext` or `SecretAccessKey` (for blockseal's own members) replaced by
/// `*** sensitive ***`.
pub fn redact(op: &str, side: Side, value: &Value) -> Value {
    let shape = model_of(op).and_then(|m| {
        let o = m.operation(op)?;
        let s = match side {
            Side::Input => o.input.as_deref(),
            Side::Output => o.output.as_deref(),
        }?;
        Some((m, s))
    });
    redact_value(shape, value)
}

const SENSITIVE_NAMES: &[&str] = &["Plaintext", "SecretAccessKey"];
const REDACTED: &str = "*** sensitive ***";

fn redact_value(shape: Option<(&Model, &str)>, value: &Value) -> Value {
    let s = shape.and_then(|(m, n)| Some((m, m.shape(n)?)));
    if s.is_some_and(|(_, s)| s.sensitive) {
        return Value::String(REDACTED.to_owned());
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    if SENSITIVE_NAMES.contains(&k.as_str()) {
                        return (k.clone(), Value::String(REDACTED.to_owned()));
                    }
                    let member = s.and_then(|(m, s)| {
                        let r = s.members.get(k).or(s.value.as_ref())?;
                        Some((m, r.shape.as_str()))
                    });
                    (k.clone(), redact_value(member, v))
                })
                .collect(),
        ),
        Value::Array(items) => {
            let member =
                s.and_then(|(m, s)| Some((m, s.member.as_ref().map(|r| r.shape.as_str())?)));
            Value::Array(items.iter().map(|v| redact_value(member, v)).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_skeletons_follow_the_model() {
        let s = skeleton("CopyImage", Side::Input).unwrap();
        assert_eq!(s["SourceImageId"], json!(""));
        assert_eq!(s["Encrypted"], json!(true));
        assert_eq!(s["DryRun"], json!(true));
        // A list of structures: one element, each member filled.
        assert_eq!(
            s["TagSpecifications"][0]["Tags"][0],
            json!({"Key": "", "Value": ""})
        );
        let k = skeleton("CreateKey", Side::Input).unwrap();
        // Enums take their first value.
        assert_eq!(k["KeyUsage"], json!("SIGN_VERIFY"));
        assert_eq!(k["MultiRegion"], json!(true));
        // An operation without input, and one no AWS model has.
        assert_eq!(
            skeleton("ListKeys", Side::Input).unwrap()["Limit"],
            json!(0)
        );
        assert_eq!(skeleton("ExportSnapshot", Side::Input), None);
    }

    #[test]
    fn output_skeletons_use_member_names() {
        let s = skeleton("CopyImage", Side::Output).unwrap();
        assert_eq!(s, json!({"ImageId": "ImageId"}));
        let d = skeleton("DescribeVolumes", Side::Output).unwrap();
        assert_eq!(d["Volumes"][0]["VolumeId"], json!("VolumeId"));
        assert_eq!(d["Volumes"][0]["Size"], json!(0));
    }

    #[test]
    fn the_command_line_overrides_the_input_json_except_defaults() {
        let cl = json!({"SourceImageId": "ami-cli", "SourceRegion": "us-east-1", "Name": "n"});
        let m = merge_input(
            r#"{"SourceImageId": "ami-json", "SourceRegion": "eu-west-1", "Description": "d"}"#,
            cl,
            |k| k == "SourceImageId" || k == "Name",
        )
        .unwrap();
        assert_eq!(
            m,
            json!({"SourceImageId": "ami-cli", "SourceRegion": "eu-west-1", "Name": "n",
                   "Description": "d"})
        );
        assert!(merge_input("[1]", json!({}), |_| false).is_err());
        assert!(merge_input("{", json!({}), |_| false).is_err());
    }

    #[test]
    fn debug_traces_hide_secrets() {
        let r = redact(
            "Encrypt",
            Side::Input,
            &json!({"KeyId": "k", "Plaintext": "c2VjcmV0"}),
        );
        assert_eq!(r, json!({"KeyId": "k", "Plaintext": REDACTED}));
        let r = redact(
            "CreateAccessKey",
            Side::Output,
            &json!({"AccessKey": {"AccessKeyId": "AKIA", "SecretAccessKey": "s3cret"}}),
        );
        assert_eq!(r["AccessKey"]["SecretAccessKey"], json!(REDACTED));
        assert_eq!(r["AccessKey"]["AccessKeyId"], json!("AKIA"));
        // Model-driven: RunInstances' UserData is a sensitive shape.
        let r = redact(
            "RunInstances",
            Side::Input,
            &json!({"UserData": "x", "ImageId": "a"}),
        );
        assert_eq!(r, json!({"UserData": REDACTED, "ImageId": "a"}));
        // Not in any model: the names still hide.
        let r = redact("ExportSnapshot", Side::Output, &json!({"Plaintext": "p"}));
        assert_eq!(r, json!({"Plaintext": REDACTED}));
    }
}
