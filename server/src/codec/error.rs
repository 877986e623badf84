//! The codec's one error type, and how each failure is spelled to an AWS client: the error code
//! and message a real service would send for the same mistake, per protocol.
//!
//! Nothing here formats a response body; `xml`, `json` and `rest` turn a code and message into
//! bytes.

use super::model::Protocol;

/// A request that does not fit the model (a client error), or a response that does not (a bug
/// in the server, reported as an internal error).
#[derive(Debug, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum CodecError {
    /// The action, `X-Amz-Target` or method and path names no operation of the service.
    UnknownOperation {
        protocol: Protocol,
        operation: String,
    },
    /// A parameter or JSON member the input shape does not have; `name` is its wire name and
    /// `shape` the structure it was looked up in.
    UnknownParameter {
        protocol: Protocol,
        name: String,
        shape: String,
    },
    /// A value of the right kind that does not parse as its shape's type (`MinCount=ten`, a
    /// blob that is not base64).
    InvalidValue {
        protocol: Protocol,
        name: String,
        value: String,
        expected: &'static str,
    },
    /// A JSON value of the wrong JSON type (`"KeyId": 5`).
    WrongType {
        name: String,
        expected: &'static str,
        found: &'static str,
    },
    /// A required member is absent; `name` is its wire name.
    MissingParameter { protocol: Protocol, name: String },
    /// The same parameter twice.
    DuplicateParameter { protocol: Protocol, name: String },
    /// The body is not a JSON object.
    Serialization { message: String },
    /// The server's own output does not fit the output shape: one line per problem.
    Output {
        protocol: Protocol,
        problems: Vec<String>,
    },
}

/// Longest echo of a client's value in an error message: bodies can be large.
const ECHO_MAX: usize = 64;

impl CodecError {
    /// The AWS error code for this failure, e.g. `UnknownParameter` (EC2) or
    /// `ValidationException` (KMS, EBS).
    pub fn code(&self) -> &'static str {
        use Protocol::{Ec2, Query};
        let xml = |p: &Protocol| matches!(p, Ec2 | Query);
        match self {
            Self::UnknownOperation { protocol, .. } if xml(protocol) => "InvalidAction",
            Self::UnknownOperation { .. } => "UnknownOperationException",
            Self::UnknownParameter { protocol, .. } if xml(protocol) => "UnknownParameter",
            Self::InvalidValue { protocol, .. } | Self::DuplicateParameter { protocol, .. }
                if xml(protocol) =>
            {
                "InvalidParameterValue"
            }
            Self::MissingParameter { protocol, .. } if xml(protocol) => "MissingParameter",
            Self::UnknownParameter { .. }
            | Self::InvalidValue { .. }
            | Self::DuplicateParameter { .. }
            | Self::MissingParameter { .. } => "ValidationException",
            Self::WrongType { .. } | Self::Serialization { .. } => "SerializationException",
            Self::Output { protocol: Ec2, .. } => "InternalError",
            Self::Output {
                protocol: Protocol::RestJson,
                ..
            } => "InternalServerException",
            Self::Output { .. } => "InternalFailure",
        }
    }

    /// The message AWS would send with [`code`](Self::code).
    pub fn message(&self) -> String {
        use Protocol::{Ec2, Query};
        match self {
            Self::UnknownOperation {
                protocol: Ec2 | Query,
                operation,
            } => {
                format!("The action {operation} is not valid for this web service.")
            }
            Self::UnknownOperation { operation, .. } => format!("Unknown operation {operation}"),
            Self::UnknownParameter {
                protocol: Ec2 | Query,
                name,
                ..
            } => {
                format!("The parameter {name} is not recognized")
            }
            Self::UnknownParameter { name, shape, .. } => {
                format!("'{name}' is not a valid member of {shape}")
            }
            Self::InvalidValue {
                name,
                value,
                expected,
                ..
            } => {
                format!(
                    "Invalid value '{}' for {name}: expected {expected}",
                    echo(value)
                )
            }
            Self::WrongType {
                name,
                expected,
                found,
            } => {
                format!("Invalid type for {name}: expected {expected}, found {found}")
            }
            Self::MissingParameter {
                protocol: Ec2 | Query,
                name,
            } => {
                format!("The request must contain the parameter {name}")
            }
            Self::MissingParameter { name, .. } => format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
                 Member must not be null",
                lower_camel_path(name)
            ),
            Self::DuplicateParameter { name, .. } => {
                format!("The parameter {name} is given more than once")
            }
            Self::Serialization { message } => message.clone(),
            Self::Output { problems, .. } => {
                format!(
                    "The response does not fit the model: {}",
                    problems.join("; ")
                )
            }
        }
    }

    /// The HTTP status to send: 500 for [`Output`](Self::Output), 404 for a REST path that
    /// names no operation, else 400.
    pub fn status(&self) -> u16 {
        match self {
            Self::Output { .. } => 500,
            Self::UnknownOperation {
                protocol: Protocol::RestJson,
                ..
            } => 404,
            _ => 400,
        }
    }

    /// True when the failure is the server's (an output that does not fit the model).
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Output { .. })
    }
}

fn echo(value: &str) -> String {
    match value.char_indices().nth(ECHO_MAX) {
        Some((end, _)) => format!("{}...", &value[..end]),
        None => value.to_owned(),
    }
}

/// AWS's JSON validation messages name members in lowerCamel case (`keyId`, `tags.1.tagKey`).
fn lower_camel_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut start = true;
    for c in path.chars() {
        if start {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        start = c == '.';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_protocol() {
        let op = |protocol| CodecError::UnknownOperation {
            protocol,
            operation: "Foo".into(),
        };
        assert_eq!(op(Protocol::Ec2).code(), "InvalidAction");
        assert_eq!(
            op(Protocol::Ec2).to_string(),
            "The action Foo is not valid for this web service."
        );
        assert_eq!(op(Protocol::Json).code(), "UnknownOperationException");
        assert_eq!(op(Protocol::RestJson).status(), 404);
        let missing = |protocol| CodecError::MissingParameter {
            protocol,
            name: "KeyId".into(),
        };
        assert_eq!(missing(Protocol::Ec2).code(), "MissingParameter");
        assert_eq!(
            missing(Protocol::Ec2).message(),
            "The request must contain the parameter KeyId"
        );
        assert_eq!(missing(Protocol::Json).code(), "ValidationException");
        assert_eq!(
            missing(Protocol::Json).message(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null"
        );
        let output = CodecError::Output {
            protocol: Protocol::Ec2,
            problems: vec!["x".into()],
        };
        assert_eq!(
            (output.code(), output.status(), output.is_internal()),
            ("InternalError", 500, true)
        );
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let e = CodecError::InvalidValue {
            protocol: Protocol::Ec2,
            name: "MinCount".into(),
            value: "9".repeat(100),
            expected: "an integer",
        };
        assert_eq!(e.code(), "InvalidParameterValue");
        assert!(e.message().contains(&format!("'{}...'", "9".repeat(64))));
    }

    #[test]
    fn lower_camel() {
        assert_eq!(lower_camel_path("Tags[0].TagKey"), "tags[0].tagKey");
        assert_eq!(lower_camel_path(""), "");
    }
}
