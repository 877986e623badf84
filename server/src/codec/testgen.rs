//! Test support for the whole codec: a sample value for any shape (every member set, two items
//! per list), client-side encoders that mirror botocore's serializers, and response readers that
//! mirror botocore's parsers. With them every operation's input and output is round-tripped
//! through the codec, so a model regeneration that changes a wire name fails a test here.
//!
//! The mirrors are written from botocore's `serialize.py` and `parsers.py`, independently of the
//! codec's own walkers; their output for these samples was compared once against botocore
//! 1.44.8 itself. Compiled for tests only.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::base64;
use super::json::{self, Decoder};
use super::model::{Location, MemberRef, Model, Protocol, Shape, ShapeType};
use super::rest::RestOutput;
use super::time;

/// The timestamp every sample carries (canonical, so it survives a round trip unchanged).
pub(crate) const TIMESTAMP: &str = "2026-11-30T12:00:00.123Z";
const BLOB: &str = "aGVsbG8gd29ybGQ=";

/// A value for the shape `name` with every member set.
pub(crate) fn sample(model: &Model, name: &str) -> Value {
    sample_shape(model, model.shape_named(name), name, None)
}

fn sample_shape(model: &Model, shape: &Shape, hint: &str, location: Option<Location>) -> Value {
    match shape.kind {
        ShapeType::Structure => {
            let mut out = Map::new();
            for (name, member) in &shape.members {
                if member.location == Some(Location::StatusCode) {
                    continue;
                }
                let value = sample_shape(model, model.target(member), name, member.location);
                out.insert(name.clone(), value);
            }
            Value::Object(out)
        }
        ShapeType::List => {
            let item = shape.member.as_ref().expect("lists have a member");
            let target = model.target(item);
            let one = sample_shape(model, target, &format!("{hint}1"), location);
            let two = sample_shape(model, target, &format!("{hint}2"), location);
            Value::Array(vec![one, two])
        }
        ShapeType::Map => {
            let value = model.target(shape.value.as_ref().expect("maps have a value"));
            let mut out = Map::new();
            out.insert("k1".to_owned(), sample_shape(model, value, hint, location));
            out.insert(
                "k2 & <é>".to_owned(),
                sample_shape(model, value, hint, location),
            );
            Value::Object(out)
        }
        ShapeType::String => match shape.enum_values.first() {
            Some(first) => Value::String(first.clone()),
            // Header values stay plain ASCII; everywhere else, exercise escaping.
            None if location == Some(Location::Header) => Value::String(format!("v-{hint}")),
            None => Value::String(format!("v-{hint} & <é> \"q\" +/=%")),
        },
        ShapeType::Integer | ShapeType::Short | ShapeType::Byte => Value::from(7),
        ShapeType::Long => Value::from(1_i64 << 40),
        ShapeType::Boolean => Value::Bool(true),
        ShapeType::Double | ShapeType::Float => Value::from(1.5),
        ShapeType::Timestamp => Value::String(TIMESTAMP.to_owned()),
        ShapeType::Blob => Value::String(BLOB.to_owned()),
    }
}

/// The form fields botocore's `EC2Serializer` / `QuerySerializer` send for `value` (without
/// `Action` and `Version`).
pub(crate) fn to_query(model: &Model, shape: &Shape, value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    query_struct(model, model.protocol(), shape, value, "", &mut out);
    out
}

fn query_struct(
    model: &Model,
    protocol: Protocol,
    shape: &Shape,
    value: &Value,
    prefix: &str,
    out: &mut Vec<(String, String)>,
) {
    for (key, member_value) in value.as_object().expect("a structure") {
        let member = &shape.members[key];
        // `_get_serialized_name`: EC2 prefers queryName, then a capitalised locationName.
        let name = match protocol {
            Protocol::Ec2 => member.query_name.clone().unwrap_or_else(|| {
                member
                    .location_name
                    .as_ref()
                    .map_or_else(|| key.clone(), |l| upper_first(l))
            }),
            _ => member.location_name.clone().unwrap_or_else(|| key.clone()),
        };
        let member_prefix = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        query_value(model, protocol, member, member_value, &member_prefix, out);
    }
}

fn query_value(
    model: &Model,
    protocol: Protocol,
    member: &MemberRef,
    value: &Value,
    prefix: &str,
    out: &mut Vec<(String, String)>,
) {
    let shape = model.target(member);
    match shape.kind {
        ShapeType::Structure => query_struct(model, protocol, shape, value, prefix, out),
        ShapeType::List => {
            let item = shape.member.as_ref().expect("lists have a member");
            let items = value.as_array().expect("a list");
            let list_prefix = if protocol == Protocol::Ec2 {
                prefix.to_owned()
            } else if items.is_empty() {
                out.push((prefix.to_owned(), String::new()));
                return;
            } else if member.flattened {
                match &item.location_name {
                    Some(name) => match prefix.rsplit_once('.') {
                        Some((head, _)) => format!("{head}.{name}"),
                        None => name.clone(),
                    },
                    None => prefix.to_owned(),
                }
            } else {
                format!(
                    "{prefix}.{}",
                    item.location_name.as_deref().unwrap_or("member")
                )
            };
            for (i, item_value) in items.iter().enumerate() {
                let item_prefix = format!("{list_prefix}.{}", i + 1);
                query_value(model, protocol, item, item_value, &item_prefix, out);
            }
        }
        ShapeType::Map => {
            let full = if member.flattened {
                prefix.to_owned()
            } else {
                format!("{prefix}.entry")
            };
            let key_ref = shape.key.as_ref().expect("maps have a key");
            let value_ref = shape.value.as_ref().expect("maps have a value");
            let key_suffix = key_ref.location_name.as_deref().unwrap_or("key");
            let value_suffix = value_ref.location_name.as_deref().unwrap_or("value");
            for (i, (k, v)) in value.as_object().expect("a map").iter().enumerate() {
                out.push((format!("{full}.{}.{key_suffix}", i + 1), k.clone()));
                let value_prefix = format!("{full}.{}.{value_suffix}", i + 1);
                query_value(model, protocol, value_ref, v, &value_prefix, out);
            }
        }
        // botocore sends microseconds when there are any: `2026-11-30T12:00:00.123000Z`.
        ShapeType::Timestamp => {
            let text = value
                .as_str()
                .expect("a timestamp")
                .replace(".123Z", ".123000Z");
            out.push((prefix.to_owned(), text));
        }
        _ => out.push((prefix.to_owned(), scalar_text(value))),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A parsed XML element: enough XML for what the codec writes.
#[derive(Debug)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) children: Vec<Element>,
    pub(crate) text: String,
}

/// Parses an XML document (declaration, elements, attributes, text, entities).
pub(crate) fn parse_xml(text: &str) -> Element {
    let mut rest = text.trim_start();
    if let Some(after) = rest.strip_prefix("<?xml") {
        rest = after[after.find("?>").expect("declaration ends") + 2..].trim_start();
    }
    let (element, rest) = parse_element(rest);
    assert!(rest.trim().is_empty(), "trailing content: {rest:?}");
    element
}

fn parse_element(text: &str) -> (Element, &str) {
    let text = text.strip_prefix('<').expect("an element starts with <");
    let tag_end = text.find('>').expect("the tag ends");
    let tag = &text[..tag_end];
    let (tag, empty) = match tag.strip_suffix('/') {
        Some(tag) => (tag, true),
        None => (tag, false),
    };
    let name = tag
        .split_whitespace()
        .next()
        .expect("a tag name")
        .to_owned();
    let mut rest = &text[tag_end + 1..];
    let mut element = Element {
        name,
        children: Vec::new(),
        text: String::new(),
    };
    if empty {
        return (element, rest);
    }
    let close = format!("</{}>", element.name);
    loop {
        if let Some(after) = rest.strip_prefix(close.as_str()) {
            return (element, after);
        }
        if rest.starts_with('<') {
            let (child, after) = parse_element(rest);
            element.children.push(child);
            rest = after;
        } else {
            let end = rest.find('<').expect("the element closes");
            element.text.push_str(&unescape(&rest[..end]));
            rest = &rest[end..];
        }
    }
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').expect("an entity ends") + at;
        let entity = &rest[at + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => entity
                        .strip_prefix('#')
                        .expect("a character reference")
                        .parse(),
                };
                char::from_u32(code.expect("a number")).expect("a character")
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// What botocore's `EC2QueryParser` / `QueryParser` read from a response for `op`, in the
/// codec's value conventions.
pub(crate) fn from_xml(model: &Model, op: &str, xml: &str) -> Value {
    let root = parse_xml(xml);
    let operation = model.operation(op).expect("a known operation");
    assert_eq!(root.name, format!("{op}Response"));
    let Some(output) = &operation.output else {
        return Value::Object(Map::new());
    };
    let start = match &operation.result_wrapper {
        Some(wrapper) => root
            .children
            .iter()
            .find(|c| &c.name == wrapper)
            .expect("the result"),
        None => &root,
    };
    xml_struct(model, model.shape_named(output), start)
}

fn xml_struct(model: &Model, shape: &Shape, node: &Element) -> Value {
    let mut by_name: HashMap<&str, Vec<&Element>> = HashMap::new();
    for child in &node.children {
        by_name.entry(child.name.as_str()).or_default().push(child);
    }
    let mut out = Map::new();
    for (name, member) in &shape.members {
        let target = model.target(member);
        // `_member_key_name`: a flattened list is named by its member's locationName.
        let flattened_name = (target.kind == ShapeType::List && member.flattened)
            .then(|| {
                target
                    .member
                    .as_ref()
                    .and_then(|m| m.location_name.as_deref())
            })
            .flatten();
        let xml_name = flattened_name
            .or(member.location_name.as_deref())
            .unwrap_or(name.as_str());
        if let Some(nodes) = by_name.get(xml_name) {
            out.insert(name.clone(), xml_member(model, member, nodes));
        }
    }
    Value::Object(out)
}

fn xml_member(model: &Model, member: &MemberRef, nodes: &[&Element]) -> Value {
    let shape = model.target(member);
    match shape.kind {
        ShapeType::List => {
            let item = shape.member.as_ref().expect("lists have a member");
            let items: Vec<&Element> = if member.flattened {
                nodes.to_vec()
            } else {
                nodes[0].children.iter().collect()
            };
            Value::Array(
                items
                    .into_iter()
                    .map(|n| xml_value(model, item, n))
                    .collect(),
            )
        }
        ShapeType::Map => {
            let entries: Vec<&Element> = if member.flattened {
                nodes.to_vec()
            } else {
                nodes[0].children.iter().collect()
            };
            let key_ref = shape.key.as_ref().expect("maps have a key");
            let value_ref = shape.value.as_ref().expect("maps have a value");
            let key_name = key_ref.location_name.as_deref().unwrap_or("key");
            let value_name = value_ref.location_name.as_deref().unwrap_or("value");
            let mut out = Map::new();
            for entry in entries {
                let key = entry
                    .children
                    .iter()
                    .find(|c| c.name == key_name)
                    .expect("a key");
                let value = entry
                    .children
                    .iter()
                    .find(|c| c.name == value_name)
                    .expect("a value");
                out.insert(key.text.clone(), xml_value(model, value_ref, value));
            }
            Value::Object(out)
        }
        _ => xml_value(model, member, nodes[0]),
    }
}

fn xml_value(model: &Model, member: &MemberRef, node: &Element) -> Value {
    let shape = model.target(member);
    let text = node.text.as_str();
    match shape.kind {
        ShapeType::Structure => xml_struct(model, shape, node),
        ShapeType::List | ShapeType::Map => xml_member(model, member, &[node]),
        ShapeType::String | ShapeType::Blob => Value::String(text.to_owned()),
        ShapeType::Integer | ShapeType::Long | ShapeType::Short | ShapeType::Byte => {
            Value::from(text.parse::<i64>().expect("an integer"))
        }
        ShapeType::Boolean => Value::Bool(text == "true"),
        ShapeType::Double | ShapeType::Float => Value::from(text.parse::<f64>().expect("a number")),
        ShapeType::Timestamp => Value::String(time::normalize(text).expect("a timestamp")),
    }
}

/// A REST request as botocore's `RestJSONSerializer` builds it for `value`.
pub(crate) struct RestRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

pub(crate) fn to_rest(model: &Model, op: &str, value: &Value) -> RestRequest {
    let operation = model.operation(op).expect("a known operation");
    let shape = model.shape_named(operation.input.as_deref().expect("an input"));
    let template = operation.request_uri.split('?').next().expect("a path");
    let mut path = template.to_owned();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    let mut body_members = Map::new();
    let mut body = Vec::new();
    for (name, v) in value.as_object().expect("a structure") {
        let member = &shape.members[name];
        let wire = member.location_name.as_deref().unwrap_or(name);
        match member.location {
            Some(Location::Uri) => {
                path = path.replace(&format!("{{{wire}}}"), &percent_encode(&scalar_text(v)));
            }
            Some(Location::QueryString) => {
                query.push(format!("{wire}={}", percent_encode(&scalar_text(v))));
            }
            Some(Location::Header) => headers.push((wire.to_owned(), scalar_text(v))),
            _ if shape.payload.as_deref() == Some(name) => {
                body = base64::decode(v.as_str().expect("a blob")).expect("base64");
            }
            _ => {
                body_members.insert(name.clone(), v.clone());
            }
        }
    }
    if !body_members.is_empty() {
        body = json::to_wire(model, shape, None, &Value::Object(body_members))
            .to_string()
            .into();
    }
    RestRequest {
        method: operation.http_method.clone(),
        path,
        query: query.join("&"),
        headers,
        body,
    }
}

/// What botocore's `RestJSONParser` reads from a REST response: header members, the body's
/// members, and (as base64, like the codec's values) a streaming payload.
pub(crate) fn from_rest(model: &Model, op: &str, response: &RestOutput) -> Value {
    let operation = model.operation(op).expect("a known operation");
    let shape_name = operation.output.as_deref().expect("an output");
    let shape = model.shape_named(shape_name);
    let mut out = Map::new();
    for (name, member) in &shape.members {
        if member.location != Some(Location::Header) {
            continue;
        }
        let wire = member.location_name.as_deref().unwrap_or(name);
        if let Some((_, text)) = response
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(wire))
        {
            let kind = model.target(member).kind;
            let value = match kind {
                ShapeType::Timestamp => Value::String(time::normalize(text).expect("a timestamp")),
                ShapeType::String => Value::String(text.clone()),
                _ => serde_json::from_str(text).expect("a JSON scalar"),
            };
            out.insert(name.clone(), value);
        }
    }
    match shape.payload.as_deref() {
        Some(payload) => {
            out.insert(
                payload.to_owned(),
                Value::String(base64::encode(&response.body)),
            );
        }
        None => {
            let body: Value = serde_json::from_slice(&response.body).expect("a JSON body");
            let decoder = Decoder {
                model,
                protocol: Protocol::RestJson,
            };
            let decoded = decoder
                .value(shape_name, shape, body, "")
                .expect("a fitting body");
            out.extend(decoded.as_object().expect("an object").clone());
        }
    }
    Value::Object(out)
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{query, rest, xml};
    use super::*;

    fn inputs(model: &Model) -> impl Iterator<Item = (&str, &str)> {
        model
            .operations()
            .filter_map(|op| Some((op.name.as_str(), op.input.as_deref()?)))
    }

    fn outputs(model: &Model) -> impl Iterator<Item = (&str, &str)> {
        model
            .operations()
            .filter_map(|op| Some((op.name.as_str(), op.output.as_deref()?)))
    }

    #[test]
    fn every_query_input_round_trips() {
        for model in [Model::ec2(), Model::iam(), Model::sts()] {
            for (op, input) in inputs(model) {
                let value = sample(model, input);
                let fields = to_query(model, model.shape_named(input), &value);
                let decoded = query::decode(model, op, &fields)
                    .unwrap_or_else(|e| panic!("{op}: {e} from {fields:?}"));
                assert_eq!(decoded, value, "{op}");
            }
        }
    }

    #[test]
    fn every_query_output_round_trips() {
        for model in [Model::ec2(), Model::iam(), Model::sts()] {
            for (op, output) in outputs(model) {
                let value = sample(model, output);
                let encoded =
                    xml::encode(model, op, &value, "req-1").unwrap_or_else(|e| panic!("{op}: {e}"));
                assert_eq!(from_xml(model, op, &encoded), value, "{op}: {encoded}");
            }
        }
    }

    #[test]
    fn every_json_input_and_output_round_trips() {
        let model = Model::kms();
        for (op, input) in inputs(model) {
            let value = sample(model, input);
            let wire = json::to_wire(model, model.shape_named(input), None, &value);
            let decoded = json::decode(model, op, wire.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{op}: {e}"));
            assert_eq!(decoded, value, "{op}");
        }
        for (op, output) in outputs(model) {
            let value = sample(model, output);
            let wire = json::encode(model, op, &value).unwrap_or_else(|e| panic!("{op}: {e}"));
            let decoder = Decoder {
                model,
                protocol: Protocol::Json,
            };
            let decoded = decoder
                .value(output, model.shape_named(output), wire, "")
                .unwrap();
            assert_eq!(decoded, value, "{op}");
        }
    }

    #[test]
    fn every_rest_input_routes_and_round_trips() {
        let model = Model::ebs();
        for (op, input) in inputs(model) {
            let mut value = sample(model, input);
            let request = to_rest(model, op, &value);
            let (routed, labels) = rest::route(model, &request.method, &request.path)
                .unwrap_or_else(|| panic!("{op}: {} {}", request.method, request.path));
            assert_eq!(routed.name, op);
            let decoded = rest::decode(
                model,
                op,
                &labels,
                &request.query,
                &request.headers,
                request.body,
            )
            .unwrap_or_else(|e| panic!("{op}: {e}"));
            let payload = model.shape_named(input).payload.as_deref();
            if let Some(payload) = payload {
                let blob = value.as_object_mut().unwrap().remove(payload).unwrap();
                let bytes = base64::decode(blob.as_str().unwrap()).unwrap();
                assert_eq!(decoded.payload.as_deref(), Some(&bytes[..]), "{op}");
            }
            assert_eq!(decoded.input, value, "{op}");
        }
    }

    #[test]
    fn every_rest_output_round_trips() {
        let model = Model::ebs();
        for (op, output) in outputs(model) {
            let mut value = sample(model, output);
            let payload = model.shape_named(output).payload.as_deref().map(|name| {
                let blob = value.as_object_mut().unwrap().remove(name).unwrap();
                base64::decode(blob.as_str().unwrap()).unwrap()
            });
            let response = rest::encode(model, op, value.clone(), payload.clone())
                .unwrap_or_else(|e| panic!("{op}: {e}"));
            let expected_status = model.operation(op).unwrap().response_code;
            assert_eq!(response.status, expected_status, "{op}");
            let mut read = from_rest(model, op, &response);
            if let Some(bytes) = payload {
                let name = model.shape_named(output).payload.as_deref().unwrap();
                let blob = read.as_object_mut().unwrap().remove(name).unwrap();
                assert_eq!(blob, json!(base64::encode(&bytes)));
            }
            assert_eq!(read, value, "{op}");
        }
    }

    #[test]
    fn samples_fit_their_shapes() {
        for model in [
            Model::ec2(),
            Model::kms(),
            Model::sts(),
            Model::ebs(),
            Model::iam(),
        ] {
            for op in model.operations() {
                for shape in op.input.iter().chain(&op.output) {
                    let value = sample(model, shape);
                    assert_eq!(super::super::validate::check(model, shape, &value), Ok(()));
                }
            }
        }
    }

    #[test]
    fn the_xml_reader_reads_entities() {
        let doc =
            parse_xml("<?xml version=\"1.0\"?>\n<a x=\"1\"><b>&amp;&lt;&#233;&#xe9;</b><c/></a>");
        assert_eq!(doc.name, "a");
        assert_eq!(doc.children[0].text, "&<éé");
        assert_eq!(doc.children[1].name, "c");
    }
}
