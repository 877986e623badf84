//! Request decoding for the Query protocols: EC2's dialect and awsQuery (STS, IAM). The form
//! fields of a request (already URL-decoded, without `Action` and `Version`) become the input
//! value, keyed by member names.
//!
//! The key grammar mirrors botocore's `EC2Serializer` and `QuerySerializer` exactly:
//!
//! - EC2: a member is called by its `queryName`, else its `locationName` with the first letter
//!   upper-cased, else its member name; lists are always `Key.1`, `Key.2`, … and a list of
//!   structures continues `Key.1.Member`.
//! - awsQuery: a member is called by its `locationName`, else its member name; lists are
//!   `Key.member.N` (the list member's `locationName` replacing `member`) unless flattened
//!   (`Key.N`); maps are `Key.entry.N.key` / `Key.entry.N.value`. An empty list is sent as the
//!   bare key with an empty value.
//!
//! Matching is case-sensitive, as AWS's is. This module parses; it must not know what any
//! operation does.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::base64;
use super::error::CodecError;
use super::model::{MemberRef, Model, Protocol, Shape, ShapeType};
use super::time;
use super::validate::{expected, integer_fits};

/// Decodes the form fields of a Query or EC2 request for operation `op`.
///
/// `params` are the URL-decoded fields other than `Action` and `Version`, in any order.
///
/// # Errors
///
/// - [`CodecError::UnknownOperation`] if the model has no operation `op` (EC2 `InvalidAction`);
/// - [`CodecError::UnknownParameter`] for a key the input shape does not have (`UnknownParameter`);
/// - [`CodecError::InvalidValue`] for a value that does not parse as its member's type
///   (`InvalidParameterValue`);
/// - [`CodecError::DuplicateParameter`] for a key given twice;
/// - [`CodecError::MissingParameter`] for an absent required member (`MissingParameter`).
pub fn decode(model: &Model, op: &str, params: &[(String, String)]) -> Result<Value, CodecError> {
    let protocol = model.protocol();
    let operation = super::operation(model, op)?;
    let Some(input) = operation
        .input
        .as_deref()
        .and_then(|name| model.shape(name))
    else {
        if let Some((key, _)) = params.first() {
            return Err(CodecError::UnknownParameter {
                protocol,
                name: key.clone(),
                shape: op.to_owned(),
            });
        }
        return Ok(Value::Object(Map::new()));
    };
    let cx = Decoder { model, protocol };
    let mut root = Node::Struct(BTreeMap::new());
    for (key, value) in params {
        let segments: Vec<&str> = key.split('.').collect();
        cx.insert(input, false, &mut root, key, &segments, value)?;
    }
    cx.finish(input, false, root, "")
}

/// Converts the text of a scalar parameter (a form field, URI label, query string value or
/// header) to the codec's value for a shape of type `kind`. `name` is the parameter's wire name,
/// for the error.
///
/// # Errors
///
/// [`CodecError::InvalidValue`] if `raw` does not parse as `kind`.
pub(crate) fn scalar_from_str(
    protocol: Protocol,
    kind: ShapeType,
    name: &str,
    raw: &str,
) -> Result<Value, CodecError> {
    let parsed = match kind {
        ShapeType::String => Some(Value::String(raw.to_owned())),
        ShapeType::Boolean => match raw {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        ShapeType::Integer | ShapeType::Long | ShapeType::Short | ShapeType::Byte => raw
            .parse::<i64>()
            .ok()
            .filter(|&n| integer_fits(kind, n))
            .map(Value::from),
        ShapeType::Double | ShapeType::Float => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        ShapeType::Timestamp => time::normalize(raw).map(Value::String),
        ShapeType::Blob => base64::is_valid(raw).then(|| Value::String(raw.to_owned())),
        ShapeType::Structure | ShapeType::List | ShapeType::Map => None,
    };
    parsed.ok_or_else(|| CodecError::InvalidValue {
        protocol,
        name: name.to_owned(),
        value: raw.to_owned(),
        expected: match kind {
            ShapeType::Boolean => "true or false",
            other => expected(other),
        },
    })
}

/// The form fields gathered so far, before list indices are put in order.
enum Node {
    /// A scalar not given yet (a map entry whose value has not been seen).
    Unset,
    Scalar(Value),
    Struct(BTreeMap<String, Node>),
    /// Items by their 1-based index; gaps are allowed, order is by index.
    List(BTreeMap<u32, Node>),
    Map(BTreeMap<u32, Entry>),
}

struct Entry {
    key: Option<String>,
    value: Node,
}

impl Node {
    fn for_shape(kind: ShapeType) -> Node {
        match kind {
            ShapeType::Structure => Node::Struct(BTreeMap::new()),
            ShapeType::List => Node::List(BTreeMap::new()),
            ShapeType::Map => Node::Map(BTreeMap::new()),
            _ => Node::Unset,
        }
    }
}

struct Decoder<'m> {
    model: &'m Model,
    protocol: Protocol,
}

impl<'m> Decoder<'m> {
    /// Files the field `key` = `raw`, whose remaining key segments are `rest`, under `node` (of
    /// shape `shape`; `flattened` from the member reference that led here).
    fn insert(
        &self,
        shape: &'m Shape,
        flattened: bool,
        node: &mut Node,
        key: &str,
        rest: &[&str],
        raw: &str,
    ) -> Result<(), CodecError> {
        match (shape.kind, node) {
            (ShapeType::Structure, Node::Struct(members)) => {
                let Some((first, rest)) = rest.split_first() else {
                    return Err(self.unknown(key));
                };
                let Some((name, member)) = shape
                    .members
                    .iter()
                    .find(|(name, m)| self.wire_name(name, m) == *first)
                else {
                    return Err(self.unknown(key));
                };
                let target = self.model.target(member);
                let child = members
                    .entry(name.clone())
                    .or_insert_with(|| Node::for_shape(target.kind));
                self.insert(target, member.flattened, child, key, rest, raw)
            }
            (ShapeType::List, Node::List(items)) => {
                let Some(item) = &shape.member else {
                    return Err(self.unknown(key));
                };
                let rest = match rest {
                    // An empty list: awsQuery sends `Key=` (botocore's QuerySerializer).
                    [] if raw.is_empty() => return Ok(()),
                    [] => return Err(self.unknown(key)),
                    [first, rest @ ..] if self.protocol == Protocol::Query && !flattened => {
                        let item_name = item.location_name.as_deref().unwrap_or("member");
                        if *first != item_name {
                            return Err(self.unknown(key));
                        }
                        rest
                    }
                    rest => rest,
                };
                let (index, rest) = self.index(key, rest)?;
                let target = self.model.target(item);
                let child = items
                    .entry(index)
                    .or_insert_with(|| Node::for_shape(target.kind));
                self.insert(target, item.flattened, child, key, rest, raw)
            }
            (ShapeType::Map, Node::Map(entries)) => {
                let (Some(key_ref), Some(value_ref)) = (&shape.key, &shape.value) else {
                    return Err(self.unknown(key));
                };
                let rest = match rest {
                    [] if raw.is_empty() => return Ok(()),
                    ["entry", rest @ ..] if !flattened => rest,
                    rest if flattened => rest,
                    _ => return Err(self.unknown(key)),
                };
                let (index, rest) = self.index(key, rest)?;
                let value_shape = self.model.target(value_ref);
                let entry = entries.entry(index).or_insert_with(|| Entry {
                    key: None,
                    value: Node::for_shape(value_shape.kind),
                });
                let key_name = key_ref.location_name.as_deref().unwrap_or("key");
                let value_name = value_ref.location_name.as_deref().unwrap_or("value");
                match rest {
                    [name] if *name == key_name => {
                        if entry.key.replace(raw.to_owned()).is_some() {
                            return Err(self.duplicate(key));
                        }
                        Ok(())
                    }
                    [name, rest @ ..] if *name == value_name => self.insert(
                        value_shape,
                        value_ref.flattened,
                        &mut entry.value,
                        key,
                        rest,
                        raw,
                    ),
                    _ => Err(self.unknown(key)),
                }
            }
            (ShapeType::Structure | ShapeType::List | ShapeType::Map, _) => Err(self.unknown(key)),
            (kind, node) => {
                if !rest.is_empty() {
                    return Err(self.unknown(key));
                }
                if !matches!(node, Node::Unset) {
                    return Err(self.duplicate(key));
                }
                *node = Node::Scalar(scalar_from_str(self.protocol, kind, key, raw)?);
                Ok(())
            }
        }
    }

    /// The 1-based list or map index at the head of `rest`.
    fn index<'a, 'k>(
        &self,
        key: &str,
        rest: &'a [&'k str],
    ) -> Result<(u32, &'a [&'k str]), CodecError> {
        match rest.split_first() {
            Some((index, rest)) if index.bytes().all(|b| b.is_ascii_digit()) => {
                match index.parse::<u32>() {
                    Ok(n) if n >= 1 => Ok((n, rest)),
                    _ => Err(self.unknown(key)),
                }
            }
            _ => Err(self.unknown(key)),
        }
    }

    /// Turns the gathered fields into the input value, checking required members. `wire` is the
    /// key prefix of `node`, for messages.
    fn finish(
        &self,
        shape: &Shape,
        flattened: bool,
        node: Node,
        wire: &str,
    ) -> Result<Value, CodecError> {
        match node {
            Node::Unset => Err(self.missing(wire.to_owned())),
            Node::Scalar(value) => Ok(value),
            Node::Struct(members) => {
                let mut out = Map::new();
                for (name, child) in members {
                    let member = &shape.members[&name];
                    let child_wire = join(wire, &self.wire_name(&name, member));
                    let target = self.model.target(member);
                    let value = self.finish(target, member.flattened, child, &child_wire)?;
                    out.insert(name, value);
                }
                for name in &shape.required {
                    if !out.contains_key(name) {
                        let wire_name = match shape.members.get(name) {
                            Some(member) => self.wire_name(name, member),
                            None => Cow::Borrowed(name.as_str()),
                        };
                        return Err(self.missing(join(wire, &wire_name)));
                    }
                }
                Ok(Value::Object(out))
            }
            Node::List(items) => {
                let Some(item) = &shape.member else {
                    return Ok(Value::Array(Vec::new()));
                };
                let item_shape = self.model.target(item);
                let item_name = match self.protocol {
                    Protocol::Query if !flattened => {
                        Some(item.location_name.as_deref().unwrap_or("member"))
                    }
                    _ => None,
                };
                items
                    .into_iter()
                    .map(|(i, child)| {
                        let child_wire = match item_name {
                            Some(name) => format!("{wire}.{name}.{i}"),
                            None => format!("{wire}.{i}"),
                        };
                        self.finish(item_shape, item.flattened, child, &child_wire)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            Node::Map(entries) => {
                let Some(value_ref) = &shape.value else {
                    return Ok(Value::Object(Map::new()));
                };
                let value_shape = self.model.target(value_ref);
                let mut out = Map::new();
                for (i, entry) in entries {
                    let entry_wire = if flattened {
                        format!("{wire}.{i}")
                    } else {
                        format!("{wire}.entry.{i}")
                    };
                    let Some(key) = entry.key else {
                        return Err(self.missing(format!("{entry_wire}.key")));
                    };
                    let value_wire = format!("{entry_wire}.value");
                    let value =
                        self.finish(value_shape, value_ref.flattened, entry.value, &value_wire)?;
                    out.insert(key, value);
                }
                Ok(Value::Object(out))
            }
        }
    }

    /// The key segment naming member `name` of a structure (see the module docs).
    fn wire_name<'a>(&'a self, name: &'a str, member: &'a MemberRef) -> Cow<'a, str> {
        if self.protocol == Protocol::Ec2 {
            if let Some(query_name) = &member.query_name {
                return Cow::Borrowed(query_name);
            }
            return match &member.location_name {
                Some(location) => Cow::Owned(capitalize(location)),
                None => Cow::Borrowed(name),
            };
        }
        if member.flattened {
            let target = self.model.target(member);
            if let Some(item_name) = target
                .member
                .as_ref()
                .and_then(|m| m.location_name.as_deref())
            {
                if target.kind == ShapeType::List {
                    return Cow::Borrowed(item_name);
                }
            }
        }
        Cow::Borrowed(member.location_name.as_deref().unwrap_or(name))
    }

    fn unknown(&self, key: &str) -> CodecError {
        CodecError::UnknownParameter {
            protocol: self.protocol,
            name: key.to_owned(),
            shape: String::new(),
        }
    }

    fn duplicate(&self, key: &str) -> CodecError {
        CodecError::DuplicateParameter {
            protocol: self.protocol,
            name: key.to_owned(),
        }
    }

    fn missing(&self, wire: String) -> CodecError {
        CodecError::MissingParameter {
            protocol: self.protocol,
            name: wire,
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// botocore's `name[0].upper() + name[1:]`.
fn capitalize(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The form fields of a query string, without `Action` and `Version`.
    fn form(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| *k != "Action" && *k != "Version")
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn ec2(op: &str, query: &str) -> Result<Value, CodecError> {
        decode(Model::ec2(), op, &form(query))
    }

    // The field sets below are what botocore 1.44.8's EC2Serializer and QuerySerializer send for
    // the same inputs (printed once with `serialize_to_request`).

    #[test]
    fn describe_images() {
        let query = "Action=DescribeImages&Version=2016-11-15&ImageId.1=ami-1&ImageId.2=ami-2\
                     &Filter.1.Name=encrypted&Filter.1.Value.1=true&Owner.1=self";
        assert_eq!(
            ec2("DescribeImages", query).unwrap(),
            json!({
                "ImageIds": ["ami-1", "ami-2"],
                "Filters": [{"Name": "encrypted", "Values": ["true"]}],
                "Owners": ["self"]
            })
        );
    }

    #[test]
    fn register_image_with_nested_mappings() {
        let query = "Name=img&BlockDeviceMapping.1.DeviceName=/dev/xvda\
                     &BlockDeviceMapping.1.Ebs.SnapshotId=snap-1\
                     &BlockDeviceMapping.1.Ebs.Encrypted=true&RootDeviceName=/dev/xvda";
        assert_eq!(
            ec2("RegisterImage", query).unwrap(),
            json!({
                "Name": "img",
                "RootDeviceName": "/dev/xvda",
                "BlockDeviceMappings": [
                    {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1", "Encrypted": true}}
                ]
            })
        );
    }

    #[test]
    fn run_instances_counts_are_integers() {
        let query = "ImageId=ami-1&MinCount=1&MaxCount=2&InstanceType=t3.micro\
                     &TagSpecification.1.ResourceType=instance\
                     &TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web";
        assert_eq!(
            ec2("RunInstances", query).unwrap(),
            json!({
                "ImageId": "ami-1",
                "MinCount": 1,
                "MaxCount": 2,
                "InstanceType": "t3.micro",
                "TagSpecifications": [
                    {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}
                ]
            })
        );
    }

    #[test]
    fn copy_image_encryption() {
        let query = "Name=copy&SourceImageId=ami-1&SourceRegion=us-east-1&Encrypted=true\
                     &KmsKeyId=alias/x";
        assert_eq!(
            ec2("CopyImage", query).unwrap(),
            json!({
                "Name": "copy",
                "SourceImageId": "ami-1",
                "SourceRegion": "us-east-1",
                "Encrypted": true,
                "KmsKeyId": "alias/x"
            })
        );
    }

    #[test]
    fn location_names_are_capitalised_and_query_names_win() {
        // `attributeName` on the wire is `AttributeName`; `dryRun` is `DryRun`.
        assert_eq!(
            ec2(
                "DescribeAccountAttributes",
                "AttributeName.1=default-vpc&DryRun=false"
            )
            .unwrap(),
            json!({"AttributeNames": ["default-vpc"], "DryRun": false})
        );
        assert_eq!(
            ec2(
                "ModifyImageAttribute",
                "ImageId=ami-1&LaunchPermission.Add.1.UserId=1234"
            )
            .unwrap(),
            json!({"ImageId": "ami-1", "LaunchPermission": {"Add": [{"UserId": "1234"}]}})
        );
        // `NetworkInterface.N.PrivateIpAddresses` is a queryName (the locationName differs).
        let query = "MinCount=1&MaxCount=1\
                     &NetworkInterface.1.PrivateIpAddresses.1.PrivateIpAddress=10.0.0.5";
        assert_eq!(
            ec2("RunInstances", query).unwrap()["NetworkInterfaces"],
            json!([{"PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.5"}]}])
        );
    }

    #[test]
    fn list_items_are_ordered_by_index() {
        let query = "ImageId.10=ami-10&ImageId.2=ami-2&ImageId.1=ami-1";
        assert_eq!(
            ec2("DescribeImages", query).unwrap(),
            json!({"ImageIds": ["ami-1", "ami-2", "ami-10"]})
        );
    }

    #[test]
    fn unknown_parameters() {
        for query in [
            "Foo=1",
            "imageId.1=ami-1",
            "ImageIds.1=ami-1",
            "ImageId.0=ami-1",
            "ImageId.x=ami-1",
            "ImageId.1.Foo=ami-1",
            "ImageId=ami-1",
            "Filter.1=x",
            "Filter.1.Value=x",
            "MaxResults.1=5",
        ] {
            let e = ec2("DescribeImages", query).unwrap_err();
            let key = query.split_once('=').unwrap().0;
            assert_eq!(e.code(), "UnknownParameter", "{query}");
            assert_eq!(
                e.message(),
                format!("The parameter {key} is not recognized")
            );
        }
    }

    #[test]
    fn bad_values() {
        let e = ec2("RunInstances", "MinCount=one&MaxCount=1").unwrap_err();
        assert_eq!(e.code(), "InvalidParameterValue");
        assert_eq!(
            e.message(),
            "Invalid value 'one' for MinCount: expected an integer"
        );
        let e = ec2("RunInstances", "MinCount=1&MaxCount=4294967296").unwrap_err();
        assert_eq!(e.code(), "InvalidParameterValue");
        let e = ec2(
            "CopyImage",
            "Name=c&SourceImageId=a&SourceRegion=r&Encrypted=yes",
        )
        .unwrap_err();
        assert_eq!(
            e.message(),
            "Invalid value 'yes' for Encrypted: expected true or false"
        );
        let e = ec2("DescribeImages", "ImageId.1=a&ImageId.1=b").unwrap_err();
        assert_eq!(
            e.message(),
            "The parameter ImageId.1 is given more than once"
        );
    }

    #[test]
    fn missing_parameters_are_named_as_on_the_wire() {
        let e = ec2("RunInstances", "MinCount=1").unwrap_err();
        assert_eq!(e.code(), "MissingParameter");
        assert_eq!(
            e.message(),
            "The request must contain the parameter MaxCount"
        );
        let e = ec2(
            "RegisterImage",
            "Name=img&BlockDeviceMapping.1.Ebs.Encrypted=true",
        );
        assert_eq!(
            e.unwrap(),
            json!({"Name": "img", "BlockDeviceMappings": [{"Ebs": {"Encrypted": true}}]})
        );
        let e = ec2("CreateTags", "ResourceId.1=ami-1").unwrap_err();
        assert_eq!(
            (e.code(), e.message().as_str()),
            (
                "MissingParameter",
                "The request must contain the parameter Tag"
            )
        );
    }

    #[test]
    fn unknown_action() {
        let e = ec2("LaunchRockets", "").unwrap_err();
        assert_eq!(e.code(), "InvalidAction");
        assert_eq!(
            e.message(),
            "The action LaunchRockets is not valid for this web service."
        );
    }

    #[test]
    fn timestamps_are_normalised() {
        // None of the served Query operations takes a timestamp; the decoder converts every
        // scalar through this helper.
        let ts = |t: &str| scalar_from_str(Protocol::Ec2, ShapeType::Timestamp, "T", t).unwrap();
        assert_eq!(
            ts("2026-11-30T12:00:00Z"),
            json!("2026-11-30T12:00:00.000Z")
        );
        assert_eq!(ts("1796040000.5"), json!("2026-11-30T12:00:00.500Z"));
        let e = scalar_from_str(Protocol::Ec2, ShapeType::Timestamp, "T", "soon").unwrap_err();
        assert_eq!(e.code(), "InvalidParameterValue");
        assert_eq!(
            scalar_from_str(Protocol::Ec2, ShapeType::Double, "D", "1.5").unwrap(),
            json!(1.5)
        );
        assert!(scalar_from_str(Protocol::Ec2, ShapeType::Double, "D", "NaN").is_err());
        assert!(scalar_from_str(Protocol::Ec2, ShapeType::Blob, "B", "Zm9v").is_ok());
        assert!(scalar_from_str(Protocol::Ec2, ShapeType::Blob, "B", "Zm9").is_err());
    }

    #[test]
    fn aws_query_lists_and_empty_lists() {
        let iam = Model::iam();
        assert_eq!(
            decode(
                iam,
                "CreateUser",
                &form("UserName=bob&Tags.member.1.Key=a&Tags.member.1.Value=b")
            )
            .unwrap(),
            json!({"UserName": "bob", "Tags": [{"Key": "a", "Value": "b"}]})
        );
        assert_eq!(
            decode(iam, "CreateUser", &form("UserName=bob&Tags=")).unwrap(),
            json!({"UserName": "bob", "Tags": []})
        );
        assert_eq!(
            decode(iam, "ListUsers", &form("MaxItems=5")).unwrap(),
            json!({"MaxItems": 5})
        );
        let e = decode(iam, "CreateUser", &form("UserName=bob&Tags.1.Key=a")).unwrap_err();
        assert_eq!(e.code(), "UnknownParameter");
        let e = decode(
            iam,
            "CreateUser",
            &form("Tags.member.1.Key=a&Tags.member.1.Value=b"),
        );
        let e = e.unwrap_err();
        assert_eq!(
            e.message(),
            "The request must contain the parameter UserName"
        );
        let e = decode(iam, "CreateUser", &form("UserName=b&Tags.member.1.Key=a")).unwrap_err();
        assert_eq!(
            e.message(),
            "The request must contain the parameter Tags.member.1.Value"
        );
        assert_eq!(
            decode(Model::sts(), "GetCallerIdentity", &[]).unwrap(),
            json!({})
        );
        let e = decode(Model::sts(), "GetCallerIdentity", &form("Foo=1")).unwrap_err();
        assert_eq!(e.code(), "UnknownParameter");
    }

    #[test]
    fn capitalize_mirrors_botocore() {
        assert_eq!(capitalize("dryRun"), "DryRun");
        assert_eq!(capitalize("Filter"), "Filter");
        assert_eq!(capitalize(""), "");
    }
}
