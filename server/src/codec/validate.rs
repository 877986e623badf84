//! Checks that a value between the codec and the engine fits a shape: every member known, every
//! value of its shape's JSON type, every required member present. Encoders run this on the
//! server's own output before writing a byte, so a response that drifts from the model is a
//! loud internal error rather than something a client half-parses.
//!
//! The value conventions are the codec's (see `codec`): member names, ISO 8601 timestamp
//! strings, base64 blob strings. Enum values and length/pattern constraints are not checked:
//! AWS adds enum values freely and clients accept unknown ones.

use serde_json::Value;

use super::base64;
use super::error::CodecError;
use super::model::{Model, Operation, Protocol, Shape, ShapeType};
use super::time;

/// Checks `value` against the shape called `shape`.
///
/// A JSON `null` member is treated as absent.
///
/// # Errors
///
/// Every problem found, one line each, with a path to the offending value:
/// `Images[0].BlockDeviceMappings[1].Ebs.Foo: unknown member`.
pub fn check(model: &Model, shape: &str, value: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    match model.shape(shape) {
        Some(s) => check_shape(model, s, value, "", &mut problems),
        None => problems.push(format!("{shape}: no such shape in the model")),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Checks the server's `output` for `operation` before an encoder writes it: it must fit the
/// output shape, or be `null` or `{}` when the operation has none.
///
/// # Errors
///
/// [`CodecError::Output`] listing the problems.
pub(crate) fn output(
    model: &Model,
    operation: &Operation,
    output: &Value,
) -> Result<(), CodecError> {
    let protocol: Protocol = model.protocol();
    let problems = match &operation.output {
        Some(shape) => check(model, shape, output).err(),
        None => match output {
            Value::Null => None,
            Value::Object(members) if members.is_empty() => None,
            _ => Some(vec![format!(
                "{}: the operation has no output",
                operation.name
            )]),
        },
    };
    match problems {
        None => Ok(()),
        Some(problems) => Err(CodecError::Output { protocol, problems }),
    }
}

fn check_shape(model: &Model, shape: &Shape, value: &Value, path: &str, out: &mut Vec<String>) {
    let fits = match shape.kind {
        ShapeType::Structure => {
            let Some(object) = value.as_object() else {
                return wrong(out, path, shape.kind, value);
            };
            for (name, member_value) in object {
                let member_path = join(path, name);
                match shape.members.get(name) {
                    None => out.push(format!("{member_path}: unknown member")),
                    Some(_) if member_value.is_null() => {}
                    Some(member) => {
                        check_shape(model, model.target(member), member_value, &member_path, out)
                    }
                }
            }
            for name in &shape.required {
                if object.get(name).is_none_or(Value::is_null) {
                    out.push(format!("{}: missing required member", join(path, name)));
                }
            }
            true
        }
        ShapeType::List => {
            let Some(items) = value.as_array() else {
                return wrong(out, path, shape.kind, value);
            };
            if let Some(member) = &shape.member {
                let item_shape = model.target(member);
                for (i, item) in items.iter().enumerate() {
                    check_shape(model, item_shape, item, &format!("{path}[{i}]"), out);
                }
            }
            true
        }
        ShapeType::Map => {
            let Some(entries) = value.as_object() else {
                return wrong(out, path, shape.kind, value);
            };
            if let Some(member) = &shape.value {
                let value_shape = model.target(member);
                for (key, entry) in entries {
                    check_shape(model, value_shape, entry, &join(path, key), out);
                }
            }
            true
        }
        ShapeType::String => value.is_string(),
        ShapeType::Boolean => value.is_boolean(),
        ShapeType::Double | ShapeType::Float => value.is_number(),
        kind @ (ShapeType::Integer | ShapeType::Long | ShapeType::Short | ShapeType::Byte) => {
            value.as_i64().is_some_and(|n| integer_fits(kind, n))
        }
        ShapeType::Timestamp => value.as_str().and_then(time::parse_iso).is_some(),
        ShapeType::Blob => value.as_str().is_some_and(base64::is_valid),
    };
    if !fits {
        wrong(out, path, shape.kind, value);
    }
}

fn wrong(out: &mut Vec<String>, path: &str, kind: ShapeType, value: &Value) {
    let at = if path.is_empty() { "(top level)" } else { path };
    let expected = expected(kind);
    let found = match value {
        Value::String(s) if matches!(kind, ShapeType::Timestamp | ShapeType::Blob) => {
            return out.push(format!("{at}: expected {expected}, found {s:?}"));
        }
        Value::Number(n) if kind.is_integral() => {
            return out.push(format!("{at}: expected {expected}, found {n}"));
        }
        other => json_type(other),
    };
    out.push(format!("{at}: expected {expected}, found {found}"));
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// True if `n` is in the range of the integral shape type `kind` (AWS integers are 32-bit).
pub(crate) fn integer_fits(kind: ShapeType, n: i64) -> bool {
    match kind {
        ShapeType::Integer => i32::try_from(n).is_ok(),
        ShapeType::Short => i16::try_from(n).is_ok(),
        ShapeType::Byte => i8::try_from(n).is_ok(),
        _ => true,
    }
}

/// What a value of shape type `kind` looks like, for messages.
pub(crate) fn expected(kind: ShapeType) -> &'static str {
    match kind {
        ShapeType::Structure => "a structure (JSON object)",
        ShapeType::List => "a list (JSON array)",
        ShapeType::Map => "a map (JSON object)",
        ShapeType::String => "a string",
        ShapeType::Integer | ShapeType::Short | ShapeType::Byte => "an integer",
        ShapeType::Long => "a long integer",
        ShapeType::Boolean => "a boolean",
        ShapeType::Double | ShapeType::Float => "a number",
        ShapeType::Timestamp => "an ISO 8601 timestamp",
        ShapeType::Blob => "base64-encoded binary data",
    }
}

/// The JSON type of `value`, for messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn images(image: Value) -> Value {
        json!({"Images": [{"ImageId": "ami-1"}, image]})
    }

    #[test]
    fn a_fitting_value_passes() {
        let value = images(json!({
            "ImageId": "ami-2",
            "CreationDate": "2026-11-30T12:00:00.000Z",
            "Public": false,
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1", "VolumeSize": 8}},
                {"DeviceName": "/dev/xvdb", "Ebs": {"Encrypted": true, "DeleteOnTermination": null}}
            ],
            "Tags": [{"Key": "Name", "Value": "web"}]
        }));
        assert_eq!(check(Model::ec2(), "DescribeImagesResult", &value), Ok(()));
    }

    #[test]
    fn unknown_members_and_wrong_types_are_named_by_path() {
        let value = images(json!({
            "ImageId": 5,
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda"},
                {"DeviceName": "/dev/xvdb", "Ebs": {"Foo": 1, "VolumeSize": "8", "Iops": 1.5}}
            ]
        }));
        let problems = check(Model::ec2(), "DescribeImagesResult", &value).unwrap_err();
        assert_eq!(
            problems,
            [
                "Images[1].BlockDeviceMappings[1].Ebs.Foo: unknown member",
                "Images[1].BlockDeviceMappings[1].Ebs.Iops: expected an integer, found 1.5",
                "Images[1].BlockDeviceMappings[1].Ebs.VolumeSize: expected an integer, \
                 found a string",
                "Images[1].ImageId: expected a string, found a number",
            ]
        );
    }

    #[test]
    fn scalars() {
        let kms = Model::kms();
        let key = |metadata: Value| json!({"KeyMetadata": metadata});
        let ok = key(json!({"KeyId": "k", "CreationDate": "2026-11-30T12:00:00.000Z"}));
        assert_eq!(check(kms, "DescribeKeyResponse", &ok), Ok(()));
        let bad = key(json!({"CreationDate": 1796040000, "Enabled": "yes"}));
        assert_eq!(
            check(kms, "DescribeKeyResponse", &bad).unwrap_err(),
            [
                "KeyMetadata.CreationDate: expected an ISO 8601 timestamp, found a number",
                "KeyMetadata.Enabled: expected a boolean, found a string",
                "KeyMetadata.KeyId: missing required member",
            ]
        );
        let blob = json!({"Plaintext": "not base64!", "KeyId": "k"});
        assert_eq!(
            check(kms, "GenerateDataKeyResponse", &blob).unwrap_err(),
            ["Plaintext: expected base64-encoded binary data, found \"not base64!\""]
        );
        let big = json!({"NumberOfBytes": 1_i64 << 40});
        assert!(check(kms, "GenerateRandomRequest", &big).is_err());
        let long = json!({"VolumeSize": 1_i64 << 40});
        assert_eq!(check(Model::ebs(), "StartSnapshotRequest", &long), Ok(()));
    }

    #[test]
    fn top_level_and_unknown_shapes() {
        assert_eq!(
            check(Model::ec2(), "DescribeImagesResult", &json!([])).unwrap_err(),
            ["(top level): expected a structure (JSON object), found an array"]
        );
        assert!(check(Model::ec2(), "NoSuchShape", &json!({})).is_err());
        let tags = json!({"KeyId": "k", "Tags": [{"TagKey": "a"}, null]});
        assert_eq!(
            check(Model::kms(), "TagResourceRequest", &tags).unwrap_err(),
            [
                "Tags[0].TagValue: missing required member",
                "Tags[1]: expected a structure (JSON object), found null"
            ]
        );
    }
}
