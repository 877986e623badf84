//! Response encoding for the Query protocols: EC2's XML (`<DescribeImagesResponse>` with a
//! `requestId` and `…Set`/`item` lists) and awsQuery's (`<GetCallerIdentityResult>` inside the
//! response, `member` lists, `ResponseMetadata`), plus both protocols' error documents.
//!
//! The element grammar is the mirror image of botocore's `EC2QueryParser` and `QueryParser`: a
//! member's element is its `locationName`, else its member name; a list is an element holding
//! one element per item, named by the list member's `locationName` (EC2's `item`), else
//! `member`; a flattened list repeats the member element itself. The output value is checked
//! against the model first (see `validate`), so this module writes and never guesses.

use std::fmt::Write as _;

use serde_json::Value;

use super::error::CodecError;
use super::model::{MemberRef, Model, Protocol, Shape, ShapeType};
use super::time;
use super::validate;

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

// `write!` into a `String` cannot fail, so its `fmt::Result` is dropped with `let _`.

/// Encodes `output` (the engine's result for `op`, keyed by member names) as the XML body of a
/// Query or EC2 response.
///
/// # Errors
///
/// [`CodecError::UnknownOperation`] if the model has no operation `op`, and
/// [`CodecError::Output`] if `output` does not fit the operation's output shape (a server bug).
pub fn encode(
    model: &Model,
    op: &str,
    output: &Value,
    request_id: &str,
) -> Result<String, CodecError> {
    let protocol = model.protocol();
    let operation = super::operation(model, op)?;
    validate::output(model, operation, output)?;
    let shape = operation
        .output
        .as_deref()
        .and_then(|name| model.shape(name));
    let namespace = namespace(model);
    let mut out = String::with_capacity(512);
    let name = &operation.name;
    if protocol == Protocol::Ec2 {
        out.push_str(DECLARATION);
        let _ = write!(
            out,
            "<{name}Response xmlns=\"{}\">",
            escape(&namespace, true)
        );
        leaf(&mut out, "requestId", request_id);
        if let Some(shape) = shape {
            write_members(&mut out, model, shape, output);
        }
    } else {
        let _ = write!(
            out,
            "<{name}Response xmlns=\"{}\">",
            escape(&namespace, true)
        );
        if let Some(shape) = shape {
            let wrapper = match &operation.result_wrapper {
                Some(wrapper) => wrapper.clone(),
                None => format!("{name}Result"),
            };
            let _ = write!(out, "<{wrapper}>");
            write_members(&mut out, model, shape, output);
            let _ = write!(out, "</{wrapper}>");
        }
        out.push_str("<ResponseMetadata>");
        leaf(&mut out, "RequestId", request_id);
        out.push_str("</ResponseMetadata>");
    }
    let _ = write!(out, "</{name}Response>");
    Ok(out)
}

/// The XML error document for `code` and `message`: EC2's `<Response><Errors>…` or awsQuery's
/// `<ErrorResponse>`, as `EC2QueryParser` and `QueryParser` read them.
pub fn encode_error(model: &Model, code: &str, message: &str, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    if model.protocol() == Protocol::Ec2 {
        out.push_str(DECLARATION);
        out.push_str("<Response><Errors><Error>");
        leaf(&mut out, "Code", code);
        leaf(&mut out, "Message", message);
        out.push_str("</Error></Errors>");
        leaf(&mut out, "RequestID", request_id);
        out.push_str("</Response>");
    } else {
        let namespace = namespace(model);
        let _ = write!(
            out,
            "<ErrorResponse xmlns=\"{}\"><Error>",
            escape(&namespace, true)
        );
        // awsQuery says whose fault an error is; only the model's 5xx errors (and AWS's common
        // server errors) are the service's.
        let server = model.error_status(code).is_some_and(|s| s >= 500)
            || matches!(code, "InternalFailure" | "ServiceUnavailable");
        leaf(&mut out, "Type", if server { "Receiver" } else { "Sender" });
        leaf(&mut out, "Code", code);
        leaf(&mut out, "Message", message);
        out.push_str("</Error>");
        leaf(&mut out, "RequestId", request_id);
        out.push_str("</ErrorResponse>");
    }
    out
}

/// The response namespace. EC2's model spells it without the trailing slash EC2 itself sends.
fn namespace(model: &Model) -> String {
    let namespace = model.xml_namespace().unwrap_or_default();
    if model.protocol() == Protocol::Ec2 && !namespace.ends_with('/') {
        format!("{namespace}/")
    } else {
        namespace.to_owned()
    }
}

fn write_members(out: &mut String, model: &Model, shape: &Shape, value: &Value) {
    let Some(object) = value.as_object() else {
        return;
    };
    for (name, member) in &shape.members {
        match object.get(name) {
            None | Some(Value::Null) => {}
            Some(member_value) => write_value(
                out,
                model,
                element_name(model, name, member),
                member,
                member_value,
            ),
        }
    }
}

/// A structure member's element name (botocore's `_member_key_name`).
fn element_name<'a>(model: &'a Model, name: &'a str, member: &'a MemberRef) -> &'a str {
    if member.flattened {
        let target = model.target(member);
        if target.kind == ShapeType::List {
            if let Some(item_name) = target
                .member
                .as_ref()
                .and_then(|m| m.location_name.as_deref())
            {
                return item_name;
            }
        }
    }
    member.location_name.as_deref().unwrap_or(name)
}

fn write_value(out: &mut String, model: &Model, name: &str, member: &MemberRef, value: &Value) {
    let shape = model.target(member);
    match shape.kind {
        ShapeType::Structure => {
            let _ = write!(out, "<{name}>");
            write_members(out, model, shape, value);
            let _ = write!(out, "</{name}>");
        }
        ShapeType::List => {
            let (Some(item), Some(items)) = (&shape.member, value.as_array()) else {
                return;
            };
            if member.flattened {
                for item_value in items {
                    write_value(out, model, name, item, item_value);
                }
            } else if items.is_empty() {
                let _ = write!(out, "<{name}/>");
            } else {
                let item_name = item.location_name.as_deref().unwrap_or("member");
                let _ = write!(out, "<{name}>");
                for item_value in items {
                    write_value(out, model, item_name, item, item_value);
                }
                let _ = write!(out, "</{name}>");
            }
        }
        ShapeType::Map => {
            let (Some(key), Some(val), Some(entries)) =
                (&shape.key, &shape.value, value.as_object())
            else {
                return;
            };
            let key_name = key.location_name.as_deref().unwrap_or("key");
            let value_name = val.location_name.as_deref().unwrap_or("value");
            let entry_name = if member.flattened { name } else { "entry" };
            if !member.flattened {
                let _ = write!(out, "<{name}>");
            }
            for (k, v) in entries {
                let _ = write!(out, "<{entry_name}>");
                leaf(out, key_name, k);
                write_value(out, model, value_name, val, v);
                let _ = write!(out, "</{entry_name}>");
            }
            if !member.flattened {
                let _ = write!(out, "</{name}>");
            }
        }
        kind => {
            let text = scalar_text(kind, member.timestamp_format.as_deref(), value);
            leaf(out, name, &text);
        }
    }
}

/// The text of a scalar, as the Query protocols print it.
fn scalar_text(kind: ShapeType, timestamp_format: Option<&str>, value: &Value) -> String {
    match (kind, value) {
        (ShapeType::Timestamp, Value::String(s)) => match time::parse(s) {
            Some(millis) => match timestamp_format {
                Some("unixTimestamp") => time::epoch_seconds(millis).to_string(),
                Some("rfc822") => time::http_date(millis),
                _ => time::iso(millis),
            },
            None => s.clone(),
        },
        (_, Value::String(s)) => s.clone(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, Value::Number(n)) => n.to_string(),
        (_, other) => other.to_string(),
    }
}

fn leaf(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(text, false));
}

/// XML-escapes `text` (and `"` in attribute values). Characters XML 1.0 cannot carry at all
/// (most C0 controls) become U+FFFD rather than making the whole response unparseable; a
/// carriage return is written as a character reference so parsers do not fold it into a newline.
fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // The expected documents below were fed once to botocore 1.44.8's EC2QueryParser and
    // QueryParser, which read back exactly the values encoded here.

    #[test]
    fn describe_images_with_nested_mappings() {
        let output = json!({"Images": [
            {
                "ImageId": "ami-1",
                "Name": "web & <db>",
                "CreationDate": "2026-11-30T12:00:00.000Z",
                "State": "available",
                "Public": false,
                "OwnerId": "123456789012",
                "BlockDeviceMappings": [
                    {"DeviceName": "/dev/xvda", "Ebs": {
                        "SnapshotId": "snap-1", "VolumeSize": 8, "Encrypted": true,
                        "DeleteOnTermination": true, "VolumeType": "gp3"
                    }},
                    {"DeviceName": "/dev/xvdb", "Ebs": {
                        "SnapshotId": "snap-2", "VolumeSize": 16, "Encrypted": false
                    }}
                ],
                "Tags": [{"Key": "Name", "Value": "web"}]
            },
            {"ImageId": "ami-2", "BlockDeviceMappings": [], "RootDeviceName": "/dev/xvda"}
        ]});
        let expected = concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<DescribeImagesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">",
            "<requestId>req-1</requestId><imagesSet><item><blockDeviceMapping><item>",
            "<deviceName>/dev/xvda</deviceName><ebs><deleteOnTermination>true",
            "</deleteOnTermination><encrypted>true</encrypted><snapshotId>snap-1</snapshotId>",
            "<volumeSize>8</volumeSize><volumeType>gp3</volumeType></ebs></item><item>",
            "<deviceName>/dev/xvdb</deviceName><ebs><encrypted>false</encrypted>",
            "<snapshotId>snap-2</snapshotId><volumeSize>16</volumeSize></ebs></item>",
            "</blockDeviceMapping><creationDate>2026-11-30T12:00:00.000Z</creationDate>",
            "<imageId>ami-1</imageId><name>web &amp; &lt;db&gt;</name><imageOwnerId>123456789012",
            "</imageOwnerId><isPublic>false</isPublic><imageState>available</imageState><tagSet>",
            "<item><key>Name</key><value>web</value></item></tagSet></item><item>",
            "<blockDeviceMapping/><imageId>ami-2</imageId><rootDeviceName>/dev/xvda",
            "</rootDeviceName></item></imagesSet></DescribeImagesResponse>",
        );
        assert_eq!(
            encode(Model::ec2(), "DescribeImages", &output, "req-1").unwrap(),
            expected
        );
    }

    #[test]
    fn get_caller_identity() {
        let output = json!({
            "Account": "123456789012",
            "Arn": "arn:aws:iam::123456789012:user/alice",
            "UserId": "AIDAEXAMPLE"
        });
        let expected = concat!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">",
            "<GetCallerIdentityResult><Account>123456789012</Account>",
            "<Arn>arn:aws:iam::123456789012:user/alice</Arn><UserId>AIDAEXAMPLE</UserId>",
            "</GetCallerIdentityResult><ResponseMetadata><RequestId>req-2</RequestId>",
            "</ResponseMetadata></GetCallerIdentityResponse>",
        );
        assert_eq!(
            encode(Model::sts(), "GetCallerIdentity", &output, "req-2").unwrap(),
            expected
        );
    }

    #[test]
    fn iam_member_lists_and_timestamps() {
        let output = json!({
            "Users": [{
                "UserName": "bob",
                "UserId": "AIDA1",
                "Arn": "arn:aws:iam::123456789012:user/bob",
                "Path": "/",
                "CreateDate": "2026-11-30T12:00:00.000Z",
                "Tags": [{"Key": "a", "Value": "b"}]
            }],
            "IsTruncated": false
        });
        let expected = concat!(
            "<ListUsersResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">",
            "<ListUsersResult><IsTruncated>false</IsTruncated><Users><member>",
            "<Arn>arn:aws:iam::123456789012:user/bob</Arn><CreateDate>2026-11-30T12:00:00.000Z",
            "</CreateDate><Path>/</Path><Tags><member><Key>a</Key><Value>b</Value></member>",
            "</Tags><UserId>AIDA1</UserId><UserName>bob</UserName></member></Users>",
            "</ListUsersResult><ResponseMetadata><RequestId>req-5</RequestId></ResponseMetadata>",
            "</ListUsersResponse>",
        );
        assert_eq!(
            encode(Model::iam(), "ListUsers", &output, "req-5").unwrap(),
            expected
        );
    }

    #[test]
    fn operations_without_output() {
        assert_eq!(
            encode(Model::ec2(), "DeleteVolume", &json!({}), "r").unwrap(),
            concat!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "<DeleteVolumeResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">",
                "<requestId>r</requestId></DeleteVolumeResponse>"
            )
        );
        assert_eq!(
            encode(Model::iam(), "DeleteUser", &Value::Null, "r").unwrap(),
            concat!(
                "<DeleteUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">",
                "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteUserResponse>"
            )
        );
        let e = encode(Model::ec2(), "DeleteVolume", &json!({"Return": true}), "r").unwrap_err();
        assert!(e.is_internal());
    }

    #[test]
    fn output_that_does_not_fit_the_model_is_refused() {
        let output = json!({"Images": [{"ImageId": "ami-1", "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"Foo": 1}}
        ]}]});
        let e = encode(Model::ec2(), "DescribeImages", &output, "r").unwrap_err();
        assert_eq!(e.code(), "InternalError");
        assert_eq!(e.status(), 500);
        assert_eq!(
            e.message(),
            "The response does not fit the model: \
             Images[0].BlockDeviceMappings[0].Ebs.Foo: unknown member"
        );
        let e = encode(Model::ec2(), "DescribeRockets", &json!({}), "r").unwrap_err();
        assert_eq!(e.code(), "InvalidAction");
    }

    #[test]
    fn error_documents() {
        assert_eq!(
            encode_error(
                Model::ec2(),
                "InvalidAMIID.NotFound",
                "The image id '[ami-1]' does not exist",
                "req-3"
            ),
            concat!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code>",
                "<Message>The image id '[ami-1]' does not exist</Message></Error></Errors>",
                "<RequestID>req-3</RequestID></Response>"
            )
        );
        assert_eq!(
            encode_error(
                Model::iam(),
                "NoSuchEntity",
                "The user with name bob cannot be found.",
                "req-4"
            ),
            concat!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>",
                "<Type>Sender</Type><Code>NoSuchEntity</Code>",
                "<Message>The user with name bob cannot be found.</Message></Error>",
                "<RequestId>req-4</RequestId></ErrorResponse>"
            )
        );
        let failure = encode_error(Model::iam(), "ServiceFailure", "oops", "r");
        assert!(failure.contains("<Type>Receiver</Type>"), "{failure}");
        let escaped = encode_error(Model::ec2(), "X", "a<b & \"c\"", "r");
        assert!(
            escaped.contains("<Message>a&lt;b &amp; \"c\"</Message>"),
            "{escaped}"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a&b<c>d\"e", false), "a&amp;b&lt;c&gt;d\"e");
        assert_eq!(escape("\"", true), "&quot;");
        assert_eq!(
            escape("l1\nl2\r\tx\u{1}\u{fffe}é", false),
            "l1\nl2&#13;\tx\u{fffd}\u{fffd}é"
        );
    }
}
