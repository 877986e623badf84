//! The REST-JSON protocol (the EBS direct APIs): routing a method and path to an operation by
//! the model's URI templates, decoding members from the URI, query string, headers and body,
//! and encoding output members back to headers and a body, mirroring botocore's
//! `RestJSONSerializer` and `RestJSONParser`.
//!
//! A streaming blob payload (`PutSnapshotBlock`'s and `GetSnapshotBlock`'s `BlockData`, half a
//! megabyte a call) is moved between the HTTP body and [`RestInput::payload`] /
//! [`encode`]'s `payload` as is: never base64-encoded, never copied, never put in a `Value`.
//! Unknown query parameters and headers are ignored (they carry SigV4, tracing and proxy
//! business); unknown JSON body members are refused, as in `json`.

use serde_json::{Map, Value};

use super::base64;
use super::error::CodecError;
use super::json::{self, Decoder};
use super::model::{Location, MemberRef, Model, Operation, Protocol, Shape, ShapeType};
use super::query::scalar_from_str;
use super::time;
use super::validate;

/// URI labels by name (`snapshotId`), percent-decoded.
pub type Labels = Vec<(String, String)>;

/// A decoded REST request.
#[derive(Debug)]
pub struct RestInput {
    /// The members that are not the streaming payload, by member name.
    pub input: Value,
    /// The HTTP body when the input shape's payload is a streaming blob, untouched.
    pub payload: Option<Vec<u8>>,
}

/// An encoded REST response.
#[derive(Debug)]
pub struct RestOutput {
    pub status: u16,
    /// Header names as the model spells them (`x-amz-Checksum`), plus `Content-Type`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Finds the operation whose method and URI template match a request, and the URI labels'
/// percent-decoded values by label name (`snapshotId`). A query string on `path`, and the query
/// part of a template, are ignored. When two templates match, the one with more literal segments
/// wins (`/snapshots/completion/{snapshotId}` over a label in the same place).
pub fn route<'m>(model: &'m Model, method: &str, path: &str) -> Option<(&'m Operation, Labels)> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let mut best: Option<(usize, &Operation, Labels)> = None;
    for operation in model.operations().filter(|op| op.http_method == method) {
        let template = operation
            .request_uri
            .split_once('?')
            .map_or(&*operation.request_uri, |t| t.0);
        if let Some((literals, labels)) = match_template(template, path) {
            if best.as_ref().is_none_or(|(most, ..)| literals > *most) {
                best = Some((literals, operation, labels));
            }
        }
    }
    best.map(|(_, operation, labels)| (operation, labels))
}

/// Decodes a REST request for operation `op`: `path_params` from [`route`], the raw query
/// string (without `?`), the headers (names matched case-insensitively) and the body.
///
/// # Errors
///
/// - [`CodecError::UnknownOperation`] if the model has no operation `op`;
/// - [`CodecError::InvalidValue`] for a label, query value or header that does not parse as its
///   member's type (`ValidationException`);
/// - [`CodecError::DuplicateParameter`] for a scalar query parameter or header given twice;
/// - [`CodecError::MissingParameter`] for an absent required member;
/// - the errors of [`json::decode`] for the JSON body.
pub fn decode(
    model: &Model,
    op: &str,
    path_params: &[(String, String)],
    query: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<RestInput, CodecError> {
    let protocol = model.protocol();
    let operation = super::operation(model, op)?;
    let Some(shape_name) = operation.input.as_deref() else {
        return Ok(RestInput {
            input: Value::Object(Map::new()),
            payload: None,
        });
    };
    let shape = model.shape_named(shape_name);
    let query = parse_query(protocol, query)?;
    let mut input = Map::new();
    for (name, member) in &shape.members {
        let wire = member.location_name.as_deref().unwrap_or(name);
        let target = model.target(member);
        let value = match member.location {
            Some(Location::Uri) => match path_params.iter().find(|(label, _)| label == wire) {
                Some((_, raw)) => Some(scalar_from_str(protocol, target.kind, wire, raw)?),
                None => None,
            },
            Some(Location::QueryString) => {
                let values: Vec<&str> = query
                    .iter()
                    .filter(|(k, _)| k == wire)
                    .map(|(_, v)| v.as_str())
                    .collect();
                strings_to_value(model, protocol, member, wire, &values)?
            }
            Some(Location::Header) => {
                let values: Vec<&str> = headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(wire))
                    .map(|(_, v)| v.trim())
                    .collect();
                strings_to_value(model, protocol, member, wire, &values)?
            }
            Some(Location::Headers) => {
                let prefix = wire.to_ascii_lowercase();
                let entries: Map<String, Value> = headers
                    .iter()
                    .filter(|(k, _)| k.to_ascii_lowercase().starts_with(&prefix))
                    .map(|(k, v)| (k[prefix.len()..].to_owned(), Value::String(v.trim().into())))
                    .collect();
                (!entries.is_empty()).then_some(Value::Object(entries))
            }
            Some(Location::StatusCode) | None => None,
        };
        if let Some(value) = value {
            input.insert(name.clone(), value);
        }
    }

    let decoder = Decoder { model, protocol };
    let mut payload = None;
    match shape.payload.as_deref().map(|p| (p, &shape.members[p])) {
        Some((_, member)) if model.target(member).kind == ShapeType::Blob => payload = Some(body),
        Some((name, member)) if model.target(member).kind == ShapeType::String => {
            if !body.is_empty() {
                let text = String::from_utf8(body).map_err(|e| CodecError::InvalidValue {
                    protocol,
                    name: name.to_owned(),
                    value: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    expected: "UTF-8 text",
                })?;
                input.insert(name.to_owned(), Value::String(text));
            }
        }
        Some((name, member)) => {
            if !body.iter().all(u8::is_ascii_whitespace) {
                let value = json::parse_body(&body)?;
                let target = model.target(member);
                let decoded = decoder.value(&member.shape, target, value, name)?;
                input.insert(name.to_owned(), decoded);
            }
        }
        None => {
            let Value::Object(object) = json::parse_body(&body)? else {
                return Err(CodecError::Serialization {
                    message: "The body is not an object".into(),
                });
            };
            for (json_name, value) in object {
                let Some((name, member)) = shape.members.iter().find(|(name, m)| {
                    m.location.is_none()
                        && m.location_name.as_deref().unwrap_or(name.as_str()) == json_name
                }) else {
                    return Err(CodecError::UnknownParameter {
                        protocol,
                        name: json_name,
                        shape: shape_name.to_owned(),
                    });
                };
                if value.is_null() {
                    continue;
                }
                let target = model.target(member);
                let decoded = decoder.value(&member.shape, target, value, name)?;
                input.insert(name.clone(), decoded);
            }
        }
    }

    let payload_name = shape.payload.as_deref().filter(|_| payload.is_some());
    if let Some(name) = shape
        .required
        .iter()
        .find(|r| !input.contains_key(*r) && Some(r.as_str()) != payload_name)
    {
        return Err(CodecError::MissingParameter {
            protocol,
            name: name.clone(),
        });
    }
    Ok(RestInput {
        input: Value::Object(input),
        payload,
    })
}

/// Encodes `output` (the engine's result for `op`) and, for operations whose output payload is
/// a streaming blob, the `payload` bytes as the body. The status is the operation's
/// `responseCode` (201 for `StartSnapshot`), else 200.
///
/// # Errors
///
/// [`CodecError::UnknownOperation`] if the model has no operation `op`, and
/// [`CodecError::Output`] if `output` does not fit the output shape, a header value is not a
/// valid HTTP header value, or `payload` is given to an operation without a streaming payload.
pub fn encode(
    model: &Model,
    op: &str,
    output: Value,
    payload: Option<Vec<u8>>,
) -> Result<RestOutput, CodecError> {
    let protocol = model.protocol();
    let operation = super::operation(model, op)?;
    validate::output(model, operation, &output)?;
    let problem = |problem: String| CodecError::Output {
        protocol,
        problems: vec![problem],
    };
    let mut status = operation.response_code;
    let mut headers = Vec::new();
    let Some(shape) = operation
        .output
        .as_deref()
        .map(|name| model.shape_named(name))
    else {
        if payload.is_some() {
            return Err(problem(format!("{op} has no payload")));
        }
        return Ok(json_output(status, headers, &Value::Object(Map::new())));
    };
    // Validated above: the output is an object (or null, for an output with no members set).
    let mut object = match output {
        Value::Object(object) => object,
        _ => Map::new(),
    };

    for (name, member) in &shape.members {
        let wire = member.location_name.as_deref().unwrap_or(name);
        let value = match member.location {
            Some(_) => object.remove(name),
            None => continue,
        };
        let Some(value) = value.filter(|v| !v.is_null()) else {
            continue;
        };
        match member.location {
            Some(Location::Header) => {
                let text = header_text(model, member, &value);
                check_header(name, &text).map_err(problem)?;
                headers.push((wire.to_owned(), text));
            }
            Some(Location::Headers) => {
                for (key, v) in value.as_object().into_iter().flatten() {
                    let text = v.as_str().unwrap_or_default().to_owned();
                    check_header(name, &text).map_err(problem)?;
                    headers.push((format!("{wire}{key}"), text));
                }
            }
            Some(Location::StatusCode) => {
                status = value
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(status);
            }
            Some(Location::Uri | Location::QueryString) | None => {}
        }
    }

    let payload_member = shape.payload.as_deref().map(|p| (p, &shape.members[p]));
    let payload_kind = payload_member.map(|(_, member)| model.target(member).kind);
    match payload_member {
        Some((name, _)) if matches!(payload_kind, Some(ShapeType::Blob | ShapeType::String)) => {
            let body = match (payload, object.remove(name)) {
                (Some(bytes), _) => bytes,
                // A payload the engine handed over inside the value: base64 for a blob.
                (None, Some(Value::String(text))) if payload_kind == Some(ShapeType::Blob) => {
                    base64::decode(&text).map_err(|e| problem(format!("{name}: {e}")))?
                }
                (None, Some(Value::String(text))) => text.into_bytes(),
                (None, _) => Vec::new(),
            };
            let content_type = "application/octet-stream".to_owned();
            headers.push(("Content-Type".to_owned(), content_type));
            Ok(RestOutput {
                status,
                headers,
                body,
            })
        }
        _ if payload.is_some() => Err(problem(format!("{op} has no streaming payload"))),
        Some((name, member)) => {
            let body = match object.remove(name) {
                Some(v) if !v.is_null() => {
                    let format = member.timestamp_format.as_deref();
                    json::to_wire(model, model.target(member), format, &v)
                }
                _ => Value::Object(Map::new()),
            };
            Ok(json_output(status, headers, &body))
        }
        // Every location member was taken out above: what is left is the JSON body.
        None => Ok(json_output(
            status,
            headers,
            &json::to_wire(model, shape, None, &Value::Object(object)),
        )),
    }
}

/// The REST-JSON error response for `code`: the model's status for it (400 if the model does
/// not know it), the `x-amzn-ErrorType` header `RestJSONParser` reads the code from, and a
/// `{"message": …}` body.
pub fn encode_error(model: &Model, code: &str, message: &str) -> RestOutput {
    encode_error_with_reason(model, code, message, None)
}

/// [`encode_error`] with the `Reason` member EBS's exceptions carry (`INVALID_BLOCK_TOKEN`, …).
pub fn encode_error_with_reason(
    model: &Model,
    code: &str,
    message: &str,
    reason: Option<&str>,
) -> RestOutput {
    let status = model.error_status(code).unwrap_or(match code {
        "InternalFailure" | "InternalError" => 500,
        "ServiceUnavailable" => 503,
        _ => 400,
    });
    let mut body = Map::new();
    body.insert("message".to_owned(), Value::String(message.to_owned()));
    if let Some(reason) = reason {
        body.insert("Reason".to_owned(), Value::String(reason.to_owned()));
    }
    let headers = vec![("x-amzn-ErrorType".to_owned(), code.to_owned())];
    json_output(status, headers, &Value::Object(body))
}

fn json_output(status: u16, mut headers: Vec<(String, String)>, body: &Value) -> RestOutput {
    headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    RestOutput {
        status,
        headers,
        body: body.to_string().into_bytes(),
    }
}

/// Matches `path` against a template's path; on a match, the number of literal segments (the
/// tie-breaker) and the labels.
fn match_template(template: &str, path: &str) -> Option<(usize, Labels)> {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    let mut literals = 0;
    let mut labels = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some((literals, labels)),
            (Some(segment), Some(actual)) => {
                match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(label) => {
                        if let Some(greedy) = label.strip_suffix('+') {
                            let rest: Vec<&str> = std::iter::once(actual).chain(given).collect();
                            let value = percent_decode(&rest.join("/"), false)?;
                            if value.is_empty() || wanted.next().is_some() {
                                return None;
                            }
                            labels.push((greedy.to_owned(), value));
                            return Some((literals, labels));
                        }
                        let value = percent_decode(actual, false)?;
                        if value.is_empty() {
                            return None;
                        }
                        labels.push((label.to_owned(), value));
                    }
                    None if segment == actual => literals += 1,
                    None => return None,
                }
            }
            _ => return None,
        }
    }
}

/// Decodes `%XX` escapes (and `+` as a space in query strings); `None` if an escape is malformed
/// or the result is not UTF-8.
fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                // Two hex digits exactly: `from_str_radix` alone would also take a sign ("%+1").
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn parse_query(protocol: Protocol, query: &str) -> Result<Vec<(String, String)>, CodecError> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match (percent_decode(k, true), percent_decode(v, true)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(CodecError::InvalidValue {
                    protocol,
                    name: "the query string".to_owned(),
                    value: pair.to_owned(),
                    expected: "percent-encoded UTF-8",
                }),
            }
        })
        .collect()
}

/// The value of a query-string or header member from its occurrences on the wire.
fn strings_to_value(
    model: &Model,
    protocol: Protocol,
    member: &MemberRef,
    wire: &str,
    values: &[&str],
) -> Result<Option<Value>, CodecError> {
    let target = model.target(member);
    let item = |kind: ShapeType, raw: &str| match kind {
        // REST headers carry timestamps as HTTP dates by default; `time::parse` takes those and
        // every other form a client may choose with `timestampFormat`.
        ShapeType::Timestamp => {
            time::normalize(raw)
                .map(Value::String)
                .ok_or_else(|| CodecError::InvalidValue {
                    protocol,
                    name: wire.to_owned(),
                    value: raw.to_owned(),
                    expected: "a timestamp",
                })
        }
        kind => scalar_from_str(protocol, kind, wire, raw),
    };
    match (target.kind, values) {
        (_, []) => Ok(None),
        (ShapeType::List, values) => {
            let Some(item_ref) = &target.member else {
                return Ok(None);
            };
            let kind = model.target(item_ref).kind;
            let header = member.location == Some(Location::Header);
            // A list in a header is one comma-separated value (RFC 9110 §5.3).
            let items: Vec<&str> = if header {
                values
                    .iter()
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .collect()
            } else {
                values.to_vec()
            };
            items
                .into_iter()
                .map(|raw| item(kind, raw))
                .collect::<Result<_, _>>()
                .map(|v| Some(Value::Array(v)))
        }
        (kind, [raw]) => item(kind, raw).map(Some),
        (_, _) => Err(CodecError::DuplicateParameter {
            protocol,
            name: wire.to_owned(),
        }),
    }
}

/// The header text of an output member (REST headers: HTTP dates for timestamps).
fn header_text(model: &Model, member: &MemberRef, value: &Value) -> String {
    let target: &Shape = model.target(member);
    match (target.kind, value) {
        (ShapeType::Timestamp, Value::String(text)) => match time::parse(text) {
            Some(millis) => match member.timestamp_format.as_deref() {
                Some("iso8601") => time::iso(millis),
                Some("unixTimestamp") => time::epoch_seconds(millis).to_string(),
                _ => time::http_date(millis),
            },
            None => text.clone(),
        },
        (ShapeType::List, Value::Array(items)) => {
            let Some(item) = &target.member else {
                return String::new();
            };
            let texts: Vec<String> = items.iter().map(|v| header_text(model, item, v)).collect();
            texts.join(",")
        }
        (_, Value::String(text)) => text.clone(),
        (_, other) => other.to_string(),
    }
}

/// A header value must not smuggle in a line break (a second header) or other controls.
fn check_header(name: &str, text: &str) -> Result<(), String> {
    match text.chars().find(|&c| c.is_control() && c != '\t') {
        Some(c) => Err(format!(
            "{name}: {c:?} is not allowed in an HTTP header value"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ebs() -> &'static Model {
        Model::ebs()
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn routed(method: &str, path: &str) -> (String, Vec<(String, String)>) {
        let (op, labels) = route(ebs(), method, path).unwrap();
        (op.name.clone(), labels)
    }

    #[test]
    fn routing() {
        let labels = |pairs: &[(&str, &str)]| headers(pairs);
        assert_eq!(
            routed("PUT", "/snapshots/snap-1/blocks/7"),
            (
                "PutSnapshotBlock".into(),
                labels(&[("snapshotId", "snap-1"), ("blockIndex", "7")])
            )
        );
        assert_eq!(
            routed("GET", "/snapshots/snap-1/blocks/7").0,
            "GetSnapshotBlock"
        );
        assert_eq!(
            routed("POST", "/snapshots"),
            ("StartSnapshot".into(), vec![])
        );
        assert_eq!(
            routed("POST", "/snapshots/completion/snap-1"),
            (
                "CompleteSnapshot".into(),
                labels(&[("snapshotId", "snap-1")])
            )
        );
        assert_eq!(
            routed("GET", "/snapshots/snap-1/blocks?maxResults=5").0,
            "ListSnapshotBlocks"
        );
        assert_eq!(
            routed("GET", "/snapshots/snap-2/changedblocks"),
            (
                "ListChangedBlocks".into(),
                labels(&[("secondSnapshotId", "snap-2")])
            )
        );
        assert_eq!(
            routed("GET", "/snapshots/snap%2D1%20x/blocks").1,
            labels(&[("snapshotId", "snap-1 x")])
        );
        for (method, path) in [
            ("DELETE", "/snapshots/snap-1/blocks/7"),
            ("GET", "/snapshots//blocks"),
            ("GET", "/snapshots/snap-1/blocks/7/8"),
            ("POST", "/snapshots/"),
            ("GET", "/snapshots/%zz/blocks"),
            ("put", "/snapshots/snap-1/blocks/7"),
        ] {
            assert!(route(ebs(), method, path).is_none(), "{method} {path}");
        }
    }

    fn put_headers() -> Vec<(String, String)> {
        headers(&[
            ("x-amz-data-length", "524288"),
            (
                "X-Amz-Checksum",
                "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
            ),
            ("x-amz-checksum-algorithm", "SHA256"),
            ("x-amz-Progress", " 50 "),
            ("Content-Type", "application/octet-stream"),
            ("Authorization", "AWS4-HMAC-SHA256 ..."),
        ])
    }

    #[test]
    fn put_snapshot_block_moves_the_body_into_the_payload() {
        let body = vec![0xab; 524288];
        let body_at = body.as_ptr();
        let labels = route(ebs(), "PUT", "/snapshots/snap-1/blocks/7").unwrap().1;
        let decoded = decode(ebs(), "PutSnapshotBlock", &labels, "", &put_headers(), body).unwrap();
        assert_eq!(
            decoded.input,
            json!({
                "SnapshotId": "snap-1",
                "BlockIndex": 7,
                "DataLength": 524288,
                "Checksum": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
                "ChecksumAlgorithm": "SHA256",
                "Progress": 50
            })
        );
        let payload = decoded.payload.unwrap();
        assert_eq!(payload.as_ptr(), body_at, "the body is moved, not copied");
        assert_eq!(payload.len(), 524288);
    }

    #[test]
    fn put_snapshot_block_errors() {
        let labels = headers(&[("snapshotId", "snap-1"), ("blockIndex", "seven")]);
        let e = decode(
            ebs(),
            "PutSnapshotBlock",
            &labels,
            "",
            &put_headers(),
            vec![],
        )
        .unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert_eq!(
            e.message(),
            "Invalid value 'seven' for blockIndex: expected an integer"
        );
        let labels = headers(&[("snapshotId", "snap-1"), ("blockIndex", "7")]);
        let mut bad = put_headers();
        bad[0].1 = "big".into();
        let e = decode(ebs(), "PutSnapshotBlock", &labels, "", &bad, vec![]).unwrap_err();
        assert_eq!(
            e.message(),
            "Invalid value 'big' for x-amz-Data-Length: expected an integer"
        );
        let mut missing = put_headers();
        missing.remove(1);
        let e = decode(ebs(), "PutSnapshotBlock", &labels, "", &missing, vec![]).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert!(e.message().contains("Value null at 'checksum'"), "{e}");
        let mut twice = put_headers();
        twice.push(("X-AMZ-PROGRESS".into(), "60".into()));
        let e = decode(ebs(), "PutSnapshotBlock", &labels, "", &twice, vec![]).unwrap_err();
        assert_eq!(
            e.message(),
            "The parameter x-amz-Progress is given more than once"
        );
    }

    #[test]
    fn get_snapshot_block_and_list_blocks_read_the_query_string() {
        let labels = headers(&[("snapshotId", "snap-1"), ("blockIndex", "7")]);
        let query = "blockToken=AAUBAcjx%2BRI%3D&X-Amz-Date=20261130T120000Z";
        let decoded = decode(ebs(), "GetSnapshotBlock", &labels, query, &[], vec![]).unwrap();
        assert_eq!(
            decoded.input,
            json!({"SnapshotId": "snap-1", "BlockIndex": 7, "BlockToken": "AAUBAcjx+RI="})
        );
        assert!(decoded.payload.is_none());
        let e = decode(ebs(), "GetSnapshotBlock", &labels, "", &[], vec![]).unwrap_err();
        assert!(e.message().contains("'blockToken'"), "{e}");

        let labels = headers(&[("snapshotId", "snap-1")]);
        let decoded = decode(
            ebs(),
            "ListSnapshotBlocks",
            &labels,
            "maxResults=100&startingBlockIndex=3",
            &[],
            vec![],
        )
        .unwrap();
        assert_eq!(
            decoded.input,
            json!({"SnapshotId": "snap-1", "MaxResults": 100, "StartingBlockIndex": 3})
        );
        let e = decode(
            ebs(),
            "ListSnapshotBlocks",
            &labels,
            "maxResults=lots",
            &[],
            vec![],
        )
        .unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        let e = decode(
            ebs(),
            "ListSnapshotBlocks",
            &labels,
            "pageToken=%E2%82",
            &[],
            vec![],
        )
        .unwrap_err();
        assert_eq!(e.code(), "ValidationException");
    }

    #[test]
    fn start_snapshot_reads_a_json_body() {
        let body = br#"{"VolumeSize": 8, "Encrypted": true, "Timeout": 60, "ClientToken": "t-1",
                        "Tags": [{"Key": "a", "Value": "b"}]}"#;
        let decoded = decode(ebs(), "StartSnapshot", &[], "", &[], body.to_vec()).unwrap();
        assert_eq!(
            decoded.input,
            json!({
                "VolumeSize": 8,
                "Encrypted": true,
                "Timeout": 60,
                "ClientToken": "t-1",
                "Tags": [{"Key": "a", "Value": "b"}]
            })
        );
        let e = decode(
            ebs(),
            "StartSnapshot",
            &[],
            "",
            &[],
            br#"{"VolumeSize": 8, "Size": 1}"#.to_vec(),
        );
        let e = e.unwrap_err();
        assert_eq!(
            (e.code(), e.message().as_str()),
            (
                "ValidationException",
                "'Size' is not a valid member of StartSnapshotRequest"
            )
        );
        let e = decode(ebs(), "StartSnapshot", &[], "", &[], b"{}".to_vec()).unwrap_err();
        assert!(e.message().contains("'volumeSize'"), "{e}");
        let e = decode(ebs(), "StartSnapshot", &[], "", &[], b"{".to_vec()).unwrap_err();
        assert_eq!(e.code(), "SerializationException");
        let e = decode(
            ebs(),
            "StartSnapshot",
            &[],
            "",
            &[],
            br#"{"VolumeSize": "8"}"#.to_vec(),
        );
        assert_eq!(e.unwrap_err().code(), "SerializationException");
        // A location member is not accepted in the body.
        let e = decode(
            ebs(),
            "CompleteSnapshot",
            &headers(&[("snapshotId", "s")]),
            "",
            &[],
            br#"{"ChangedBlocksCount": 1}"#.to_vec(),
        );
        assert_eq!(e.unwrap_err().code(), "ValidationException");
    }

    #[test]
    fn complete_snapshot() {
        let (op, labels) = route(ebs(), "POST", "/snapshots/completion/snap-1").unwrap();
        let hs = headers(&[
            ("x-amz-ChangedBlocksCount", "12"),
            ("x-amz-Checksum-Aggregation-Method", "LINEAR"),
        ]);
        let decoded = decode(ebs(), &op.name, &labels, "", &hs, vec![]).unwrap();
        assert_eq!(
            decoded.input,
            json!({
                "SnapshotId": "snap-1",
                "ChangedBlocksCount": 12,
                "ChecksumAggregationMethod": "LINEAR"
            })
        );
        let out = encode(
            ebs(),
            "CompleteSnapshot",
            json!({"Status": "pending"}),
            None,
        )
        .unwrap();
        assert_eq!(out.status, 202);
        assert_eq!(out.body, br#"{"Status":"pending"}"#);
        assert_eq!(
            out.headers,
            headers(&[("Content-Type", "application/json")])
        );
    }

    #[test]
    fn encode_put_and_get_snapshot_block() {
        let checksum = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
        let out = encode(
            ebs(),
            "PutSnapshotBlock",
            json!({"Checksum": checksum, "ChecksumAlgorithm": "SHA256"}),
            None,
        )
        .unwrap();
        assert_eq!(out.status, 201);
        assert_eq!(
            out.headers,
            headers(&[
                ("x-amz-Checksum", checksum),
                ("x-amz-Checksum-Algorithm", "SHA256"),
                ("Content-Type", "application/json"),
            ])
        );
        assert_eq!(out.body, b"{}");

        let block = vec![7u8; 524288];
        let block_at = block.as_ptr();
        let output =
            json!({"DataLength": 524288, "Checksum": checksum, "ChecksumAlgorithm": "SHA256"});
        let out = encode(ebs(), "GetSnapshotBlock", output, Some(block)).unwrap();
        assert_eq!(out.status, 200);
        assert_eq!(
            out.headers,
            headers(&[
                ("x-amz-Checksum", checksum),
                ("x-amz-Checksum-Algorithm", "SHA256"),
                ("x-amz-Data-Length", "524288"),
                ("Content-Type", "application/octet-stream"),
            ])
        );
        assert_eq!(
            out.body.as_ptr(),
            block_at,
            "the payload is the body, not a copy"
        );
        let out = encode(
            ebs(),
            "GetSnapshotBlock",
            json!({"BlockData": "AAEC"}),
            None,
        )
        .unwrap();
        assert_eq!(out.body, [0, 1, 2]);
    }

    #[test]
    fn encode_start_snapshot() {
        let output = json!({
            "SnapshotId": "snap-1",
            "OwnerId": "123456789012",
            "Status": "pending",
            "StartTime": "2026-11-30T12:00:00.123Z",
            "VolumeSize": 8,
            "BlockSize": 524288,
            "Tags": [{"Key": "a", "Value": "b"}]
        });
        let out = encode(ebs(), "StartSnapshot", output, None).unwrap();
        assert_eq!(out.status, 201);
        assert_eq!(
            out.headers,
            headers(&[("Content-Type", "application/json")])
        );
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(body["StartTime"], json!(1796040000.123));
        assert_eq!(body["BlockSize"], json!(524288));
        assert_eq!(body["Tags"], json!([{"Key": "a", "Value": "b"}]));
    }

    #[test]
    fn encode_refuses_bad_output() {
        let e = encode(ebs(), "StartSnapshot", json!({"Size": 1}), None).unwrap_err();
        assert_eq!((e.code(), e.status()), ("InternalServerException", 500));
        let e = encode(ebs(), "StartSnapshot", json!({}), Some(vec![1])).unwrap_err();
        assert!(e.is_internal());
        let e = encode(
            ebs(),
            "PutSnapshotBlock",
            json!({"Checksum": "a\r\nx-evil: 1"}),
            None,
        );
        assert!(e
            .unwrap_err()
            .message()
            .contains("not allowed in an HTTP header value"));
    }

    #[test]
    fn errors() {
        for (code, status) in [
            ("ValidationException", 400),
            ("ResourceNotFoundException", 404),
            ("AccessDeniedException", 403),
            ("ConflictException", 409),
            ("RequestThrottledException", 400),
            ("InternalServerException", 500),
            ("SomethingElse", 400),
            ("InternalFailure", 500),
        ] {
            let out = encode_error(ebs(), code, "m");
            assert_eq!(out.status, status, "{code}");
            assert_eq!(
                out.headers[0],
                ("x-amzn-ErrorType".to_owned(), code.to_owned())
            );
            assert_eq!(out.body, br#"{"message":"m"}"#);
        }
        let out = encode_error_with_reason(
            ebs(),
            "ValidationException",
            "bad token",
            Some("INVALID_BLOCK_TOKEN"),
        );
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(
            body,
            json!({"message": "bad token", "Reason": "INVALID_BLOCK_TOKEN"})
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", false).unwrap(), "a b+c");
        assert_eq!(percent_decode("a%20b+c", true).unwrap(), "a b c");
        assert_eq!(percent_decode("%E2%82%AC", false).unwrap(), "€");
        assert!(percent_decode("%E2%82", false).is_none());
        assert!(percent_decode("%2", false).is_none());
        assert!(percent_decode("%g0", false).is_none());
        assert!(
            percent_decode("%+1", false).is_none(),
            "a sign is not a hex digit"
        );
    }
}
