//! The AWS service models the codec walks: the trimmed botocore models in `server/model/*.json`,
//! embedded at build time and parsed once per process.
//!
//! This module owns loading and looking things up (operations, shapes, error status codes) and
//! the one piece of botocore behaviour that changes what a member is called on the wire: a member
//! reference's traits are merged over its target shape's (`locationName`, `queryName`,
//! `flattened`, `timestampFormat`, `streaming`), exactly as botocore's `ShapeResolver` does. It
//! must not know any protocol's wire format; that lives in `query`, `xml`, `json` and `rest`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;

/// The wire protocol a service speaks, from the model's `metadata.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// EC2's own dialect of the Query protocol (form-encoded request, XML response).
    Ec2,
    /// The awsQuery protocol (STS, IAM).
    Query,
    /// The awsJson protocol (KMS: JSON 1.1 with `X-Amz-Target`).
    Json,
    /// REST with JSON bodies (the EBS direct APIs).
    RestJson,
}

/// The type of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ShapeType {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    Short,
    Byte,
    Boolean,
    Timestamp,
    Blob,
    Double,
    Float,
}

impl ShapeType {
    /// True for the integral number types.
    pub fn is_integral(self) -> bool {
        matches!(self, Self::Integer | Self::Long | Self::Short | Self::Byte)
    }
}

/// Where a REST member travels in the HTTP message (`location`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum Location {
    #[serde(rename = "uri")]
    Uri,
    #[serde(rename = "querystring")]
    QueryString,
    #[serde(rename = "header")]
    Header,
    /// A map whose entries are all the headers starting with the member's `locationName`.
    #[serde(rename = "headers")]
    Headers,
    #[serde(rename = "statusCode")]
    StatusCode,
}

/// A reference from a structure member, list member or map key/value to a shape, with the
/// serialization traits in effect (the reference's own, else the target shape's).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MemberRef {
    /// The target shape's name.
    pub shape: String,
    pub location_name: Option<String>,
    pub query_name: Option<String>,
    pub location: Option<Location>,
    #[serde(default)]
    pub flattened: bool,
    #[serde(default)]
    pub idempotency_token: bool,
    #[serde(default)]
    pub streaming: bool,
    #[serde(default)]
    pub jsonvalue: bool,
    pub timestamp_format: Option<String>,
}

/// The `error` trait of an exception shape.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ErrorTrait {
    /// The error code on the wire when it differs from the shape name (IAM's `NoSuchEntity`).
    pub code: Option<String>,
    pub http_status_code: Option<u16>,
    #[serde(default)]
    pub sender_fault: bool,
}

/// A shape of the model. Only the traits that change the wire format are kept.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: ShapeType,
    /// Structure members by member name (sorted, so encoders emit a stable order).
    #[serde(default)]
    pub members: BTreeMap<String, MemberRef>,
    #[serde(default)]
    pub required: Vec<String>,
    /// A list's item.
    pub member: Option<MemberRef>,
    /// A map's key and value.
    pub key: Option<MemberRef>,
    pub value: Option<MemberRef>,
    #[serde(default, rename = "enum")]
    pub enum_values: Vec<String>,
    /// The member that is the whole HTTP body (REST protocols).
    pub payload: Option<String>,
    pub timestamp_format: Option<String>,
    #[serde(default)]
    pub exception: bool,
    #[serde(default)]
    pub fault: bool,
    pub error: Option<ErrorTrait>,
    #[serde(default)]
    pub sensitive: bool,
    pub location_name: Option<String>,
    pub query_name: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    #[serde(default)]
    pub streaming: bool,
}

/// One operation of a service.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Operation {
    pub name: String,
    pub http_method: String,
    /// The URI template, e.g. `/snapshots/{snapshotId}/blocks/{blockIndex}`.
    pub request_uri: String,
    /// The success status (`http.responseCode`, else 200).
    pub response_code: u16,
    pub input: Option<String>,
    pub output: Option<String>,
    /// The element wrapping an awsQuery result (`GetCallerIdentityResult`).
    pub result_wrapper: Option<String>,
    /// The error shapes the operation is documented to return.
    pub errors: Vec<String>,
}

/// One service's model: metadata, operations and shapes.
#[derive(Debug)]
pub struct Model {
    metadata: Metadata,
    operations: BTreeMap<String, Operation>,
    shapes: HashMap<String, Shape>,
    error_status: HashMap<String, u16>,
}

/// Why a model file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("the model is not valid JSON of the expected form: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("unknown protocol {0:?}")]
    Protocol(String),
    #[error("shape {from} refers to {to}, which the model does not define")]
    Dangling { from: String, to: String },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    protocol: String,
    api_version: String,
    target_prefix: Option<String>,
    json_version: Option<String>,
    signing_name: String,
    xml_namespace: Option<String>,
    service_id: String,
}

#[derive(Deserialize)]
struct RawHttp {
    method: String,
    #[serde(rename = "requestUri")]
    request_uri: String,
    #[serde(rename = "responseCode")]
    response_code: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOperation {
    name: String,
    http: RawHttp,
    input: Option<String>,
    output: Option<String>,
    result_wrapper: Option<String>,
    #[serde(default)]
    errors: Vec<String>,
}

#[derive(Deserialize)]
struct RawModel {
    metadata: Metadata,
    operations: BTreeMap<String, RawOperation>,
    shapes: HashMap<String, Shape>,
}

macro_rules! embedded {
    ($(#[$doc:meta])* $name:ident, $file:literal) => {
        $(#[$doc])*
        ///
        /// # Panics
        ///
        /// Never in practice: the embedded file is generated by `server/model/extract.py` and
        /// every embedded model is loaded by this module's tests.
        pub fn $name() -> &'static Model {
            static MODEL: OnceLock<Model> = OnceLock::new();
            MODEL.get_or_init(|| {
                Model::from_json(include_str!(concat!("../../model/", $file)))
                    .expect(concat!("server/model/", $file, " is a valid trimmed model"))
            })
        }
    };
}

impl Model {
    embedded!(
        /// EC2 (2016-11-15), the operations blockseal serves.
        ec2,
        "ec2.json"
    );
    embedded!(
        /// KMS (2014-11-01).
        kms,
        "kms.json"
    );
    embedded!(
        /// STS (2011-06-15): `GetCallerIdentity`.
        sts,
        "sts.json"
    );
    embedded!(
        /// The EBS direct APIs (2019-11-02).
        ebs,
        "ebs.json"
    );
    embedded!(
        /// IAM (2010-05-08): users, inline user policies and access keys.
        iam,
        "iam.json"
    );

    /// Parses a trimmed model (the format `server/model/extract.py` writes).
    ///
    /// # Errors
    ///
    /// [`ModelError`] if the text is not such a model, names an unknown protocol, or refers to a
    /// shape it does not define.
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        let raw: RawModel = serde_json::from_str(text)?;
        match raw.metadata.protocol.as_str() {
            "ec2" | "query" | "json" | "rest-json" => {}
            other => return Err(ModelError::Protocol(other.to_owned())),
        }
        let mut shapes = raw.shapes;
        resolve_member_traits(&mut shapes)?;
        let operations = raw
            .operations
            .into_iter()
            .map(|(name, op)| {
                let op = Operation {
                    name: op.name,
                    http_method: op.http.method,
                    request_uri: op.http.request_uri,
                    response_code: op.http.response_code.unwrap_or(200),
                    input: op.input,
                    output: op.output,
                    result_wrapper: op.result_wrapper,
                    errors: op.errors,
                };
                (name, op)
            })
            .collect::<BTreeMap<_, _>>();
        for op in operations.values() {
            let refs = op.input.iter().chain(&op.output).chain(&op.errors);
            if let Some(to) = refs.into_iter().find(|s| !shapes.contains_key(*s)) {
                let from = op.name.clone();
                return Err(ModelError::Dangling {
                    from,
                    to: to.clone(),
                });
            }
        }
        let mut error_status = HashMap::new();
        for (name, shape) in &shapes {
            if !shape.exception {
                continue;
            }
            let error = shape.error.clone().unwrap_or_default();
            // awsJson services (KMS) model no status codes: AWS sends 400 for every client
            // error and 500 for faults.
            let default = if shape.fault { 500 } else { 400 };
            let status = error.http_status_code.unwrap_or(default);
            error_status.insert(name.clone(), status);
            if let Some(code) = error.code {
                error_status.insert(code, status);
            }
        }
        Ok(Model {
            metadata: raw.metadata,
            operations,
            shapes,
            error_status,
        })
    }

    /// The service's protocol.
    pub fn protocol(&self) -> Protocol {
        match self.metadata.protocol.as_str() {
            "ec2" => Protocol::Ec2,
            "query" => Protocol::Query,
            "json" => Protocol::Json,
            _ => Protocol::RestJson,
        }
    }

    /// The API version, e.g. `2016-11-15` (the Query protocols' `Version` parameter).
    pub fn api_version(&self) -> &str {
        &self.metadata.api_version
    }

    /// The `X-Amz-Target` prefix of an awsJson service (`TrentService`).
    pub fn target_prefix(&self) -> Option<&str> {
        self.metadata.target_prefix.as_deref()
    }

    /// The JSON version of an awsJson service (`1.1`: `Content-Type: application/x-amz-json-1.1`).
    pub fn json_version(&self) -> Option<&str> {
        self.metadata.json_version.as_deref()
    }

    /// The SigV4 service name (`ec2`, `kms`, …).
    pub fn signing_name(&self) -> &str {
        &self.metadata.signing_name
    }

    /// The XML namespace of the Query protocols' responses, as the model spells it.
    pub fn xml_namespace(&self) -> Option<&str> {
        self.metadata.xml_namespace.as_deref()
    }

    /// The service id (`EC2`, `KMS`, …).
    pub fn service_id(&self) -> &str {
        &self.metadata.service_id
    }

    /// The operation called `name` (case-sensitive, as AWS matches actions).
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }

    /// The names of every operation in the model, sorted.
    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// Every operation of the model, sorted by name.
    pub fn operations(&self) -> impl Iterator<Item = &Operation> {
        self.operations.values()
    }

    /// The shape called `name`.
    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// The shape called `name`, which the model is known to define: an operation's input,
    /// output or error shape (checked when the model was loaded).
    pub(crate) fn shape_named(&self, name: &str) -> &Shape {
        &self.shapes[name]
    }

    /// The HTTP status of the modelled error `code` (a shape name such as `NotFoundException` or
    /// an IAM `error.code` such as `NoSuchEntity`); `None` if the model does not know it.
    pub fn error_status(&self, code: &str) -> Option<u16> {
        self.error_status.get(code).copied()
    }

    /// The target of a member reference. Every reference was checked when the model was loaded.
    pub(crate) fn target(&self, member: &MemberRef) -> &Shape {
        &self.shapes[&member.shape]
    }
}

/// Fills each member reference's missing serialization traits from its target shape, and checks
/// that every reference resolves. botocore does the same when it builds a member's
/// `serialization` (`ShapeResolver.resolve_shape_ref`): a shape-level `locationName` (EC2's
/// `RequestInstanceTypeList`) or `streaming` (EBS `BlockData`) applies wherever the shape is used.
fn resolve_member_traits(shapes: &mut HashMap<String, Shape>) -> Result<(), ModelError> {
    let shape_traits: HashMap<String, Shape> = shapes
        .iter()
        .filter(|(_, s)| {
            s.location_name.is_some()
                || s.query_name.is_some()
                || s.flattened
                || s.timestamp_format.is_some()
                || s.streaming
        })
        .map(|(name, s)| (name.clone(), s.clone()))
        .collect();
    let names: HashSet<String> = shapes.keys().cloned().collect();
    for (from, shape) in shapes.iter_mut() {
        let refs = shape
            .members
            .values_mut()
            .chain(shape.member.as_mut())
            .chain(shape.key.as_mut())
            .chain(shape.value.as_mut());
        for member in refs {
            if !names.contains(&member.shape) {
                let to = member.shape.clone();
                return Err(ModelError::Dangling {
                    from: from.clone(),
                    to,
                });
            }
            let Some(target) = shape_traits.get(&member.shape) else {
                continue;
            };
            if member.location_name.is_none() {
                member.location_name.clone_from(&target.location_name);
            }
            if member.query_name.is_none() {
                member.query_name.clone_from(&target.query_name);
            }
            if member.timestamp_format.is_none() {
                member.timestamp_format.clone_from(&target.timestamp_format);
            }
            member.flattened |= target.flattened;
            member.streaming |= target.streaming;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> [&'static Model; 5] {
        [
            Model::ec2(),
            Model::kms(),
            Model::sts(),
            Model::ebs(),
            Model::iam(),
        ]
    }

    #[test]
    fn every_embedded_model_loads() {
        for model in all() {
            assert!(
                model.operation_names().count() > 0,
                "{}",
                model.service_id()
            );
        }
        assert_eq!(Model::ec2().operation_names().count(), 39);
        assert_eq!(Model::kms().operation_names().count(), 34);
        assert_eq!(Model::sts().operation_names().count(), 1);
        assert_eq!(Model::ebs().operation_names().count(), 6);
        assert_eq!(Model::iam().operation_names().count(), 12);
    }

    #[test]
    fn metadata() {
        let ec2 = Model::ec2();
        assert_eq!(ec2.protocol(), Protocol::Ec2);
        assert_eq!(ec2.api_version(), "2016-11-15");
        assert_eq!(ec2.signing_name(), "ec2");
        assert_eq!(
            ec2.xml_namespace(),
            Some("http://ec2.amazonaws.com/doc/2016-11-15")
        );
        assert_eq!(ec2.target_prefix(), None);
        let kms = Model::kms();
        assert_eq!(kms.protocol(), Protocol::Json);
        assert_eq!(kms.target_prefix(), Some("TrentService"));
        assert_eq!(kms.json_version(), Some("1.1"));
        assert_eq!(Model::sts().protocol(), Protocol::Query);
        assert_eq!(Model::iam().protocol(), Protocol::Query);
        assert_eq!(Model::ebs().protocol(), Protocol::RestJson);
        assert_eq!(Model::ebs().signing_name(), "ebs");
    }

    #[test]
    fn operations() {
        let put = Model::ebs().operation("PutSnapshotBlock").unwrap();
        assert_eq!(put.http_method, "PUT");
        assert_eq!(
            put.request_uri,
            "/snapshots/{snapshotId}/blocks/{blockIndex}"
        );
        assert_eq!(put.response_code, 201);
        assert_eq!(
            Model::ebs()
                .operation("StartSnapshot")
                .unwrap()
                .response_code,
            201
        );
        assert_eq!(
            Model::ebs()
                .operation("GetSnapshotBlock")
                .unwrap()
                .response_code,
            200
        );
        let who = Model::sts().operation("GetCallerIdentity").unwrap();
        assert_eq!(
            who.result_wrapper.as_deref(),
            Some("GetCallerIdentityResult")
        );
        assert!(Model::ec2().operation("describeImages").is_none());
        assert!(Model::ec2().operation("DescribeImages").is_some());
    }

    #[test]
    fn error_status_comes_from_the_error_shapes() {
        let ebs = Model::ebs();
        assert_eq!(ebs.error_status("ValidationException"), Some(400));
        assert_eq!(ebs.error_status("ResourceNotFoundException"), Some(404));
        assert_eq!(ebs.error_status("AccessDeniedException"), Some(403));
        assert_eq!(ebs.error_status("ConflictException"), Some(409));
        assert_eq!(ebs.error_status("RequestThrottledException"), Some(400));
        assert_eq!(ebs.error_status("InternalServerException"), Some(500));
        assert_eq!(Model::kms().error_status("NotFoundException"), Some(400));
        assert_eq!(Model::kms().error_status("KMSInternalException"), Some(500));
        assert_eq!(Model::iam().error_status("NoSuchEntity"), Some(404));
        assert_eq!(
            Model::iam().error_status("NoSuchEntityException"),
            Some(404)
        );
        assert_eq!(Model::ec2().error_status("InvalidAMIID.NotFound"), None);
    }

    #[test]
    fn member_traits_are_merged_over_the_target_shape() {
        let ec2 = Model::ec2();
        let list = ec2.shape("BlockDeviceMappingList").unwrap();
        assert_eq!(
            list.member.as_ref().unwrap().location_name.as_deref(),
            Some("item")
        );
        let ebs = Model::ebs();
        let put = ebs.shape("PutSnapshotBlockRequest").unwrap();
        assert!(
            put.members["BlockData"].streaming,
            "BlockData is streaming at shape level"
        );
        assert_eq!(put.payload.as_deref(), Some("BlockData"));
    }

    #[test]
    fn bad_models_are_refused() {
        let dangling = r#"{"metadata":{"protocol":"json","apiVersion":"1","signingName":"x",
            "serviceId":"X"},"operations":{},"shapes":{"A":{"type":"structure",
            "members":{"B":{"shape":"Missing"}}}}}"#;
        assert!(matches!(
            Model::from_json(dangling),
            Err(ModelError::Dangling { .. })
        ));
        let protocol = r#"{"metadata":{"protocol":"smoke","apiVersion":"1","signingName":"x",
            "serviceId":"X"},"operations":{},"shapes":{}}"#;
        assert!(matches!(
            Model::from_json(protocol),
            Err(ModelError::Protocol(_))
        ));
        assert!(Model::from_json("[]").is_err());
    }
}
