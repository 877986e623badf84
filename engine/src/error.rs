//! The engine's one error type: an AWS-style error code, a message, and the failing step's source.
//!
//! Every failure a user can see carries the code AWS would return (`InvalidAMIID.NotFound`,
//! `DisabledException`, …) so front ends print it unchanged; `ErrorKind` is the coarse class a
//! front end maps to exit codes or errno in one `match`.

use std::fmt;

/// An AWS-style error code, e.g. `InvalidAMIID.Malformed`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(&'static str);

/// The coarse class of an error, for front ends that map errors to exit codes or errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidState,
    InvalidArgument,
    AccessDenied,
    KeyUnavailable,
    Corrupt,
    Io,
}

macro_rules! codes {
    ($($name:ident = $s:literal => $kind:ident,)*) => {
        impl Code {
            $(pub const $name: Code = Code($s);)*

            /// The code spelled `name`, if it is one of ours.
            pub fn from_name(name: &str) -> Option<Code> {
                match name {
                    $($s => Some(Code::$name),)*
                    _ => None,
                }
            }

            /// The class of this code.
            pub fn kind(self) -> ErrorKind {
                match self.0 {
                    $($s => ErrorKind::$kind,)*
                    _ => ErrorKind::Io,
                }
            }
        }
    };
}

codes! {
    // EC2: ids
    INVALID_AMI_ID_MALFORMED = "InvalidAMIID.Malformed" => InvalidArgument,
    INVALID_AMI_ID_NOT_FOUND = "InvalidAMIID.NotFound" => NotFound,
    INVALID_AMI_ID_UNAVAILABLE = "InvalidAMIID.Unavailable" => InvalidState,
    INVALID_SNAPSHOT_ID_MALFORMED = "InvalidSnapshotID.Malformed" => InvalidArgument,
    INVALID_SNAPSHOT_NOT_FOUND = "InvalidSnapshot.NotFound" => NotFound,
    INVALID_SNAPSHOT_IN_USE = "InvalidSnapshot.InUse" => InvalidState,
    INVALID_VOLUME_ID_MALFORMED = "InvalidVolumeID.Malformed" => InvalidArgument,
    INVALID_VOLUME_NOT_FOUND = "InvalidVolume.NotFound" => NotFound,
    INVALID_VOLUME_ZONE_MISMATCH = "InvalidVolume.ZoneMismatch" => InvalidArgument,
    INVALID_INSTANCE_ID_MALFORMED = "InvalidInstanceID.Malformed" => InvalidArgument,
    INVALID_INSTANCE_ID_NOT_FOUND = "InvalidInstanceID.NotFound" => NotFound,
    INVALID_ATTACHMENT_NOT_FOUND = "InvalidAttachment.NotFound" => NotFound,
    INVALID_AMI_NAME_DUPLICATE = "InvalidAMIName.Duplicate" => AlreadyExists,
    INVALID_AMI_NAME_MALFORMED = "InvalidAMIName.Malformed" => InvalidArgument,
    INVALID_AMI_ATTRIBUTE_ITEM_VALUE = "InvalidAMIAttributeItemValue" => InvalidArgument,
    INVALID_ZONE_NOT_FOUND = "InvalidZone.NotFound" => NotFound,
    INVALID_SUBNET_ID_NOT_FOUND = "InvalidSubnetID.NotFound" => NotFound,
    INVALID_GROUP_NOT_FOUND = "InvalidGroup.NotFound" => NotFound,
    INVALID_IP_ADDRESS_IN_USE = "InvalidIPAddress.InUse" => InvalidState,
    INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET = "InsufficientFreeAddressesInSubnet" => InvalidState,
    INVALID_CONVERSION_TASK_ID = "InvalidConversionTaskId" => NotFound,
    // EC2: parameters and state
    INVALID_PARAMETER_VALUE = "InvalidParameterValue" => InvalidArgument,
    INVALID_PARAMETER_DEPENDENCY = "InvalidParameterDependency" => InvalidArgument,
    INVALID_PARAMETER_COMBINATION = "InvalidParameterCombination" => InvalidArgument,
    INVALID_PARAMETER = "InvalidParameter" => InvalidArgument,
    MISSING_PARAMETER = "MissingParameter" => InvalidArgument,
    INVALID_REQUEST = "InvalidRequest" => InvalidArgument,
    INVALID_BLOCK_DEVICE_MAPPING = "InvalidBlockDeviceMapping" => InvalidArgument,
    IDEMPOTENT_PARAMETER_MISMATCH = "IdempotentParameterMismatch" => InvalidArgument,
    UNSUPPORTED_OPERATION = "UnsupportedOperation" => InvalidArgument,
    INVALID_ACTION = "InvalidAction" => InvalidArgument,
    INCORRECT_STATE = "IncorrectState" => InvalidState,
    INCORRECT_INSTANCE_STATE = "IncorrectInstanceState" => InvalidState,
    VOLUME_IN_USE = "VolumeInUse" => InvalidState,
    ATTACHMENT_LIMIT_EXCEEDED = "AttachmentLimitExceeded" => InvalidState,
    CUSTOMER_KEY_HAS_BEEN_REVOKED = "CustomerKeyHasBeenRevoked" => KeyUnavailable,
    UNAUTHORIZED_OPERATION = "UnauthorizedOperation" => AccessDenied,
    AUTH_FAILURE = "AuthFailure" => AccessDenied,
    OPERATION_NOT_PERMITTED = "OperationNotPermitted" => AccessDenied,
    DRY_RUN_OPERATION = "DryRunOperation" => InvalidState,
    INVALID_ID = "InvalidID" => InvalidArgument,
    TAG_LIMIT_EXCEEDED = "TagLimitExceeded" => InvalidState,
    // Local data path
    INVALID_FILE = "InvalidFile" => InvalidArgument,
    CORRUPT_FILE = "CorruptFile" => Corrupt,
    INSUFFICIENT_STORAGE = "InsufficientStorage" => Io,
    INTERNAL_ERROR = "InternalError" => Io,
    RESOURCE_BUSY = "ResourceBusy" => InvalidState,
    MOUNT_NOT_RESPONDING = "MountNotResponding" => InvalidState,
    INVALID_HOME = "InvalidHome" => Corrupt,
    UNOWNED_DATA_FILE = "UnownedDataFile" => Corrupt,
    UNFINISHED_OPERATION = "UnfinishedOperation" => InvalidState,
    // KMS
    NOT_FOUND_EXCEPTION = "NotFoundException" => NotFound,
    DISABLED_EXCEPTION = "DisabledException" => KeyUnavailable,
    KMS_INVALID_STATE_EXCEPTION = "KMSInvalidStateException" => KeyUnavailable,
    VALIDATION_EXCEPTION = "ValidationException" => InvalidArgument,
    ALREADY_EXISTS_EXCEPTION = "AlreadyExistsException" => AlreadyExists,
    NOT_AUTHORIZED_EXCEPTION = "NotAuthorizedException" => AccessDenied,
    ACCESS_DENIED_EXCEPTION = "AccessDeniedException" => AccessDenied,
    INVALID_CIPHERTEXT_EXCEPTION = "InvalidCiphertextException" => Corrupt,
    INCORRECT_KEY_EXCEPTION = "IncorrectKeyException" => InvalidArgument,
    INVALID_ALIAS_NAME_EXCEPTION = "InvalidAliasNameException" => InvalidArgument,
    INVALID_GRANT_ID_EXCEPTION = "InvalidGrantIdException" => NotFound,
    INVALID_ARN_EXCEPTION = "InvalidArnException" => InvalidArgument,
    TAG_EXCEPTION = "TagException" => InvalidArgument,
    LIMIT_EXCEEDED_EXCEPTION = "LimitExceededException" => InvalidState,
    KMS_INTERNAL_EXCEPTION = "KMSInternalException" => Io,
    UNSUPPORTED_OPERATION_EXCEPTION = "UnsupportedOperationException" => InvalidArgument,
    INVALID_GRANT_TOKEN_EXCEPTION = "InvalidGrantTokenException" => InvalidArgument,
    // EBS direct APIs
    RESOURCE_NOT_FOUND_EXCEPTION = "ResourceNotFoundException" => NotFound,
    CONFLICT_EXCEPTION = "ConflictException" => InvalidState,
    // IAM
    NO_SUCH_ENTITY = "NoSuchEntity" => NotFound,
    LIMIT_EXCEEDED = "LimitExceeded" => InvalidState,
    ACCESS_DENIED = "AccessDenied" => AccessDenied,
    VALIDATION_ERROR = "ValidationError" => InvalidArgument,
    // Identity and policies
    ENTITY_ALREADY_EXISTS = "EntityAlreadyExists" => AlreadyExists,
    DELETE_CONFLICT = "DeleteConflict" => InvalidState,
    MALFORMED_POLICY_DOCUMENT = "MalformedPolicyDocument" => InvalidArgument,
    MALFORMED_POLICY_DOCUMENT_EXCEPTION = "MalformedPolicyDocumentException" => InvalidArgument,
    UNMODIFIABLE_ENTITY = "UnmodifiableEntity" => InvalidState,
    INVALID_CLIENT_TOKEN_ID = "InvalidClientTokenId" => AccessDenied,
}

impl Code {
    /// The code as AWS spells it.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An engine error: what AWS would answer, plus the underlying cause where there is one.
pub struct Error {
    code: Code,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with `code` and a message meant for the user.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// An I/O failure in step `what` (e.g. "fsync /home/x/blobs/vol-…"). A full disk gets its own
    /// code so users see at once why an operation stopped.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        let code = match err.raw_os_error() {
            // EFBIG: the home's file system cannot hold a file that large (16 TiB on ext4).
            Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG) => {
                Code::INSUFFICIENT_STORAGE
            }
            _ => Code::INTERNAL_ERROR,
        };
        Error::new(code, format!("{what}: {err}")).with_source(err)
    }

    /// The AWS-style code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The coarse class of the code.
    pub fn kind(&self) -> ErrorKind {
        self.code.kind()
    }

    /// The message, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(s) = &self.source {
            write!(f, " (caused by: {s})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::new(Code::INTERNAL_ERROR, format!("catalog: {e}")).with_source(e)
    }
}

/// Shorthand for `Err(Error::new(code, message))`.
macro_rules! bail {
    ($code:expr, $($fmt:tt)+) => {
        return Err($crate::error::Error::new($code, format!($($fmt)+)))
    };
}
pub(crate) use bail;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_kinds() {
        assert_eq!(Code::INVALID_AMI_ID_NOT_FOUND.kind(), ErrorKind::NotFound);
        assert_eq!(Code::DISABLED_EXCEPTION.kind(), ErrorKind::KeyUnavailable);
        assert_eq!(
            Code::INVALID_AMI_ID_MALFORMED.as_str(),
            "InvalidAMIID.Malformed"
        );
    }

    #[test]
    fn full_disk_is_its_own_code() {
        let e = Error::io("write x", std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(e.code(), Code::INSUFFICIENT_STORAGE);
        assert!(e.message().starts_with("write x: "));
    }
}
