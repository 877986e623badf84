//! The awsJson protocol (KMS, JSON 1.1): request bodies to input values, output values to
//! response bodies, and the `{"__type", "message"}` error body, mirroring botocore's
//! `JSONSerializer` and `JSONParser`. The JSON walkers here also carry the bodies of the REST
//! protocol (`rest`).
//!
//! On the wire a member is named by its `locationName`, else its member name; timestamps are
//! epoch seconds (`1764547200.123`); blobs are base64 strings.
//!
//! Unknown members are refused (`ValidationException`), not ignored. botocore validates input
//! against the same model and never sends a member the model lacks, so a stray member means a
//! hand-written client with a typo, and silently dropping it (say, a misspelt `KeyUsage`) would
//! create something other than what was asked for. A JSON value of the wrong JSON type is a
//! `SerializationException`, as AWS's JSON services answer; a value of the right type that does
//! not parse (a blob that is not base64, an out-of-range integer) is a `ValidationException`.

use serde_json::{Map, Number, Value};

use super::base64;
use super::error::CodecError;
use super::model::{Model, Operation, Protocol, Shape, ShapeType};
use super::time;
use super::validate::{self, expected, integer_fits, json_type};

/// Decodes the body of an awsJson request for operation `op`. An empty body is `{}`.
///
/// # Errors
///
/// - [`CodecError::UnknownOperation`] if the model has no operation `op`;
/// - [`CodecError::Serialization`] if the body is not a JSON object;
/// - [`CodecError::WrongType`] for a value of the wrong JSON type;
/// - [`CodecError::UnknownParameter`], [`CodecError::InvalidValue`] and
///   [`CodecError::MissingParameter`] (all `ValidationException`).
pub fn decode(model: &Model, op: &str, body: &[u8]) -> Result<Value, CodecError> {
    let protocol = model.protocol();
    let operation = super::operation(model, op)?;
    let value = parse_body(body)?;
    let Some(input) = operation.input.as_deref() else {
        return match value.as_object().and_then(|m| m.keys().next()) {
            Some(name) => Err(CodecError::UnknownParameter {
                protocol,
                name: name.clone(),
                shape: op.to_owned(),
            }),
            None => Ok(Value::Object(Map::new())),
        };
    };
    let decoder = Decoder { model, protocol };
    decoder.value(input, model.shape_named(input), value, "")
}

/// Finds the operation an `X-Amz-Target` header names (`TrentService.CreateKey`).
///
/// # Errors
///
/// [`CodecError::UnknownOperation`] (`UnknownOperationException`) if the prefix is not the
/// model's or the operation is not in the model.
pub fn operation_for_target<'m>(
    model: &'m Model,
    target: &str,
) -> Result<&'m Operation, CodecError> {
    target
        .split_once('.')
        .filter(|(prefix, _)| Some(*prefix) == model.target_prefix())
        .and_then(|(_, name)| model.operation(name))
        .ok_or_else(|| CodecError::UnknownOperation {
            protocol: model.protocol(),
            operation: target.to_owned(),
        })
}

/// Encodes `output` (the engine's result for `op`) as the JSON body of an awsJson response.
///
/// # Errors
///
/// [`CodecError::UnknownOperation`] if the model has no operation `op`, and
/// [`CodecError::Output`] if `output` does not fit the output shape (a server bug).
pub fn encode(model: &Model, op: &str, output: &Value) -> Result<Value, CodecError> {
    let operation = super::operation(model, op)?;
    validate::output(model, operation, output)?;
    Ok(match operation.output.as_deref() {
        Some(shape) => to_wire(model, model.shape_named(shape), None, output),
        None => Value::Object(Map::new()),
    })
}

/// The awsJson error body: `{"__type": code, "message": message}`.
pub fn encode_error(code: &str, message: &str) -> Value {
    let mut body = Map::new();
    body.insert("__type".to_owned(), Value::String(code.to_owned()));
    body.insert("message".to_owned(), Value::String(message.to_owned()));
    Value::Object(body)
}

/// Parses a request body as a JSON object; empty (or blank) is `{}`.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, CodecError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(CodecError::Serialization {
            message: format!(
                "The request body must be a JSON object, not {}",
                json_type(&other)
            ),
        }),
        Err(e) => Err(CodecError::Serialization {
            message: format!("The request body is not valid JSON: {e}"),
        }),
    }
}

/// Converts a value that fits `shape` (checked by `validate`) to its wire form: members by
/// their JSON names, timestamps as epoch seconds (or the member's `timestampFormat`).
pub(crate) fn to_wire(
    model: &Model,
    shape: &Shape,
    timestamp_format: Option<&str>,
    value: &Value,
) -> Value {
    match (shape.kind, value) {
        (ShapeType::Structure, Value::Object(object)) => {
            let mut out = Map::new();
            for (name, member_value) in object {
                let Some(member) = shape.members.get(name) else {
                    continue;
                };
                if member_value.is_null() {
                    continue;
                }
                let json_name = member.location_name.clone().unwrap_or_else(|| name.clone());
                let target = model.target(member);
                let format = member.timestamp_format.as_deref();
                out.insert(json_name, to_wire(model, target, format, member_value));
            }
            Value::Object(out)
        }
        (ShapeType::List, Value::Array(items)) => match &shape.member {
            Some(item) => {
                let target = model.target(item);
                let format = item.timestamp_format.as_deref();
                Value::Array(
                    items
                        .iter()
                        .map(|v| to_wire(model, target, format, v))
                        .collect(),
                )
            }
            None => value.clone(),
        },
        (ShapeType::Map, Value::Object(entries)) => match &shape.value {
            Some(val) => {
                let target = model.target(val);
                let format = val.timestamp_format.as_deref();
                let entries = entries
                    .iter()
                    .map(|(k, v)| (k.clone(), to_wire(model, target, format, v)));
                Value::Object(entries.collect())
            }
            None => value.clone(),
        },
        (ShapeType::Timestamp, Value::String(text)) => match time::parse(text) {
            Some(millis) => match timestamp_format {
                Some("iso8601") => Value::String(time::iso(millis)),
                Some("rfc822") => Value::String(time::http_date(millis)),
                _ => {
                    Number::from_f64(time::epoch_seconds(millis)).map_or(Value::Null, Value::Number)
                }
            },
            None => value.clone(),
        },
        _ => value.clone(),
    }
}

/// The JSON walker of request bodies: wire names and forms in, member names and the codec's
/// forms out.
pub(crate) struct Decoder<'m> {
    pub(crate) model: &'m Model,
    pub(crate) protocol: Protocol,
}

impl Decoder<'_> {
    /// Decodes `value`, which must fit the shape `shape_name` (`shape`); `path` names it in
    /// errors (`""` for the whole body). A timestamp may come in any form (`time::parse`), so
    /// the member's `timestampFormat` is not needed.
    pub(crate) fn value(
        &self,
        shape_name: &str,
        shape: &Shape,
        value: Value,
        path: &str,
    ) -> Result<Value, CodecError> {
        let wrong = |value: &Value| CodecError::WrongType {
            name: if path.is_empty() {
                shape_name.to_owned()
            } else {
                path.to_owned()
            },
            expected: expected(shape.kind),
            found: json_type(value),
        };
        let invalid = |value: &Value| CodecError::InvalidValue {
            protocol: self.protocol,
            name: path.to_owned(),
            value: match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            expected: expected(shape.kind),
        };
        match (shape.kind, value) {
            (ShapeType::Structure, Value::Object(object)) => {
                let mut out = Map::new();
                for (json_name, member_value) in object {
                    let Some((name, member)) = shape.members.iter().find(|(name, m)| {
                        m.location_name.as_deref().unwrap_or(name.as_str()) == json_name
                    }) else {
                        return Err(CodecError::UnknownParameter {
                            protocol: self.protocol,
                            name: join(path, &json_name),
                            shape: shape_name.to_owned(),
                        });
                    };
                    if member_value.is_null() {
                        continue;
                    }
                    let target = self.model.target(member);
                    let member_path = join(path, name);
                    let decoded = self.value(&member.shape, target, member_value, &member_path)?;
                    out.insert(name.clone(), decoded);
                }
                if let Some(name) = shape.required.iter().find(|name| !out.contains_key(*name)) {
                    return Err(CodecError::MissingParameter {
                        protocol: self.protocol,
                        name: join(path, name),
                    });
                }
                Ok(Value::Object(out))
            }
            (ShapeType::List, Value::Array(items)) => {
                let Some(item) = &shape.member else {
                    return Ok(Value::Array(items));
                };
                let target = self.model.target(item);
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.value(&item.shape, target, v, &format!("{path}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            (ShapeType::Map, Value::Object(entries)) => {
                let Some(val) = &shape.value else {
                    return Ok(Value::Object(entries));
                };
                let target = self.model.target(val);
                let mut out = Map::new();
                for (key, v) in entries {
                    let decoded = self.value(&val.shape, target, v, &join(path, &key))?;
                    out.insert(key, decoded);
                }
                Ok(Value::Object(out))
            }
            (ShapeType::String, value @ Value::String(_))
            | (ShapeType::Boolean, value @ Value::Bool(_)) => Ok(value),
            (ShapeType::Double | ShapeType::Float, value @ Value::Number(_)) => Ok(value),
            (kind, Value::Number(n)) if kind.is_integral() => match n.as_i64() {
                Some(i) if integer_fits(kind, i) => Ok(Value::from(i)),
                _ => Err(invalid(&Value::Number(n))),
            },
            (ShapeType::Timestamp, Value::Number(n)) => {
                match n.as_f64().and_then(time::from_epoch_seconds) {
                    Some(millis) => Ok(Value::String(time::iso(millis))),
                    None => Err(invalid(&Value::Number(n))),
                }
            }
            (ShapeType::Timestamp, Value::String(s)) => match time::parse(&s) {
                Some(millis) => Ok(Value::String(time::iso(millis))),
                None => Err(invalid(&Value::String(s))),
            },
            (ShapeType::Blob, Value::String(s)) => {
                if base64::is_valid(&s) {
                    Ok(Value::String(s))
                } else {
                    Err(invalid(&Value::String(s)))
                }
            }
            (_, other) => Err(wrong(&other)),
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kms(op: &str, body: &str) -> Result<Value, CodecError> {
        decode(Model::kms(), op, body.as_bytes())
    }

    #[test]
    fn members_keep_their_names() {
        let body = r#"{"Description": "d", "KeyUsage": "ENCRYPT_DECRYPT",
                       "Tags": [{"TagKey": "a", "TagValue": "b"}]}"#;
        assert_eq!(
            kms("CreateKey", body).unwrap(),
            json!({
                "Description": "d",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "Tags": [{"TagKey": "a", "TagValue": "b"}]
            })
        );
        let body =
            r#"{"KeyId": "alias/x", "Plaintext": "aGVsbG8=", "EncryptionContext": {"a": "b"}}"#;
        assert_eq!(
            kms("Encrypt", body).unwrap(),
            json!({"KeyId": "alias/x", "Plaintext": "aGVsbG8=", "EncryptionContext": {"a": "b"}})
        );
        assert_eq!(kms("ListKeys", "").unwrap(), json!({}));
        assert_eq!(kms("ListKeys", " \n").unwrap(), json!({}));
        assert_eq!(
            kms("ListKeys", r#"{"Limit": 5, "Marker": null}"#).unwrap(),
            json!({"Limit": 5})
        );
    }

    #[test]
    fn unknown_members_are_refused() {
        let e = kms("DescribeKey", r#"{"KeyId": "k", "KeyID": "k"}"#).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert_eq!(
            e.message(),
            "'KeyID' is not a valid member of DescribeKeyRequest"
        );
        let e = kms(
            "CreateKey",
            r#"{"Tags": [{"TagKey": "a", "TagValue": "b", "X": 1}]}"#,
        );
        assert_eq!(
            e.unwrap_err().message(),
            "'Tags[0].X' is not a valid member of Tag"
        );
    }

    #[test]
    fn required_members() {
        let e = kms("DescribeKey", "{}").unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert_eq!(
            e.message(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null"
        );
        let e = kms("CreateKey", r#"{"Tags": [{"TagKey": "a"}]}"#).unwrap_err();
        assert!(e.message().contains("'tags[0].tagValue'"), "{e}");
    }

    #[test]
    fn malformed_bodies_and_wrong_types() {
        for body in ["{", "[]", "\"KeyId\"", "{\"KeyId\": \"k\"} x"] {
            let e = kms("DescribeKey", body).unwrap_err();
            assert_eq!(e.code(), "SerializationException", "{body}");
        }
        let e = kms("DescribeKey", r#"{"KeyId": 5}"#).unwrap_err();
        assert_eq!(e.code(), "SerializationException");
        assert_eq!(
            e.message(),
            "Invalid type for KeyId: expected a string, found a number"
        );
        let e = kms("GenerateRandom", r#"{"NumberOfBytes": "32"}"#).unwrap_err();
        assert_eq!(e.code(), "SerializationException");
        let e = kms("GenerateRandom", r#"{"NumberOfBytes": 1.5}"#).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        let e = kms("GenerateRandom", r#"{"NumberOfBytes": 4294967296}"#).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert_eq!(
            kms("GenerateRandom", r#"{"NumberOfBytes": 32}"#).unwrap(),
            json!({"NumberOfBytes": 32})
        );
    }

    #[test]
    fn blobs_must_be_base64() {
        let e = kms("Encrypt", r#"{"KeyId": "k", "Plaintext": "not base64"}"#).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert_eq!(
            e.message(),
            "Invalid value 'not base64' for Plaintext: expected base64-encoded binary data"
        );
    }

    #[test]
    fn timestamps_arrive_as_epoch_seconds_and_leave_as_iso() {
        let decoder = Decoder {
            model: Model::kms(),
            protocol: Protocol::Json,
        };
        let shape = Model::kms().shape("KeyMetadata").unwrap();
        let wire = json!({
            "KeyId": "k",
            "CreationDate": 1796040000.123,
            "DeletionDate": "2026-11-30T12:00:00Z"
        });
        assert_eq!(
            decoder.value("KeyMetadata", shape, wire, "").unwrap(),
            json!({
                "KeyId": "k",
                "CreationDate": "2026-11-30T12:00:00.123Z",
                "DeletionDate": "2026-11-30T12:00:00.000Z"
            })
        );
        let e = decoder.value(
            "KeyMetadata",
            shape,
            json!({"KeyId": "k", "ValidTo": "later"}),
            "",
        );
        assert_eq!(e.unwrap_err().code(), "ValidationException");
    }

    #[test]
    fn encode_converts_timestamps_to_epoch_seconds() {
        let output = json!({"KeyMetadata": {
            "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "CreationDate": "2026-11-30T12:00:00.123Z",
            "Enabled": true,
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]
        }});
        let wire = encode(Model::kms(), "DescribeKey", &output).unwrap();
        assert_eq!(
            wire,
            json!({"KeyMetadata": {
                "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
                "CreationDate": 1796040000.123,
                "Enabled": true,
                "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]
            }})
        );
        assert!(wire.to_string().contains("\"CreationDate\":1796040000.123"));
        let e = encode(
            Model::kms(),
            "DescribeKey",
            &json!({"KeyMetadata": {"KeyId": "k", "Foo": 1}}),
        );
        let e = e.unwrap_err();
        assert_eq!((e.code(), e.status()), ("InternalFailure", 500));
        assert_eq!(
            encode(Model::kms(), "DeleteAlias", &Value::Null).unwrap(),
            json!({})
        );
    }

    #[test]
    fn targets_and_errors() {
        let kms = Model::kms();
        assert_eq!(
            operation_for_target(kms, "TrentService.CreateKey")
                .unwrap()
                .name,
            "CreateKey"
        );
        for bad in ["TrentService.Nope", "Other.CreateKey", "CreateKey", ""] {
            let e = operation_for_target(kms, bad).unwrap_err();
            assert_eq!(e.code(), "UnknownOperationException", "{bad}");
        }
        assert_eq!(
            encode_error("NotFoundException", "Key 'k' does not exist"),
            json!({"__type": "NotFoundException", "message": "Key 'k' does not exist"})
        );
        assert_eq!(kms.error_status("NotFoundException"), Some(400));
    }
}
