//! The wire codec: turns AWS requests (EC2 Query, awsQuery, awsJson, REST-JSON) into
//! `serde_json::Value`s the engine reads, and the engine's output back into the bytes botocore
//! and the aws CLI parse, by walking the AWS service models in `server/model/`.
//!
//! Values on the engine side use the model's member names (`ImageIds`,
//! `BlockDeviceMappings[{DeviceName, Ebs: {SnapshotId}}]`: the JSON the aws CLI prints), with
//! timestamps as ISO 8601 strings (`2026-11-30T12:00:00.000Z`), blobs as base64 strings, integers
//! and longs as JSON integers, doubles as JSON numbers and booleans as JSON booleans.
//!
//! The codec is pure: bytes and values in, values and bytes out. It does no I/O, does not verify
//! signatures (`sigv4`), and knows nothing about what an operation does (the engine).

mod error;
mod model;
use crate::time;

pub use blockseal_engine::base64;
pub mod json;
pub mod query;
pub mod rest;
pub mod validate;
pub mod xml;

#[cfg(test)]
mod testgen;

pub use error::CodecError;
pub use model::{
    ErrorTrait, Location, MemberRef, Model, ModelError, Operation, Protocol, Shape, ShapeType,
};
pub use rest::{RestInput, RestOutput};

/// The operation `op` of `model`, or the error the protocol sends for an unknown one (EC2's
/// `InvalidAction`, awsJson's `UnknownOperationException`).
fn operation<'m>(model: &'m Model, op: &str) -> Result<&'m Operation, CodecError> {
    model
        .operation(op)
        .ok_or_else(|| CodecError::UnknownOperation {
            protocol: model.protocol(),
            operation: op.to_owned(),
        })
}
