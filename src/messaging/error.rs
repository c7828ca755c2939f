//! Every error the messaging API answers with, and the one place that maps
//! each to its AWS wire form: the JSON `__type`, the Query protocol's code
//! (also sent in `x-amzn-query-error`, which the SDKs prefer), the status and
//! whether the sender or the service is at fault.

use crate::config::queue_settings::SettingError;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    // SQS
    QueueDoesNotExist,
    QueueNameExists,
    InvalidAttributeName,
    InvalidAttributeValue,
    ReceiptHandleIsInvalid,
    MessageNotInflight,
    InvalidMessageContents,
    TooManyEntriesInBatchRequest,
    EmptyBatchRequest,
    BatchEntryIdsNotDistinct,
    InvalidBatchEntryId,
    BatchRequestTooLong,
    PurgeQueueInProgress,
    UnsupportedOperation,
    /// AddPermission with more actions than a statement may hold.
    OverLimit,
    ResourceNotFound,
    // Shared by both services
    InvalidParameterValue,
    MissingParameter,
    InvalidAction,
    MalformedInput,
    RequestTooLarge,
    /// The request body did not arrive within the listener's body deadline.
    RequestTimeout,
    MissingAuthenticationToken,
    InvalidClientTokenId,
    IncompleteSignature,
    SignatureDoesNotMatch,
    RequestExpired,
    /// SQS's refusal by access policy (SNS says AuthorizationError).
    AccessDenied,
    // SNS
    NotFound,
    InvalidParameter,
    AuthorizationError,
    /// More than 50 tags on a topic.
    TagLimitExceeded,
    Internal,
    /// The shared store cannot be reached; the SDKs retry.
    ServiceUnavailable,
}

/// An error as the client sees it: a kind and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn no_queue() -> ApiError {
        ApiError::new(
            ErrorKind::QueueDoesNotExist,
            "The specified queue does not exist.",
        )
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidParameterValue, message)
    }

    pub fn missing(parameter: &str) -> ApiError {
        ApiError::new(
            ErrorKind::MissingParameter,
            format!("The request must contain the parameter {parameter}."),
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Internal, message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::ServiceUnavailable, message)
    }

    pub fn status(&self) -> u16 {
        use ErrorKind::*;
        match self.kind {
            MissingAuthenticationToken
            | InvalidClientTokenId
            | IncompleteSignature
            | SignatureDoesNotMatch
            | RequestExpired
            | AccessDenied
            | AuthorizationError => 403,
            NotFound => 404,
            RequestTooLarge => 413,
            RequestTimeout => 408,
            Internal => 500,
            ServiceUnavailable => 503,
            _ => 400,
        }
    }

    /// The shape name: the JSON protocol's `__type` suffix.
    pub fn type_name(&self) -> &'static str {
        use ErrorKind::*;
        match self.kind {
            QueueDoesNotExist => "QueueDoesNotExist",
            QueueNameExists => "QueueNameExists",
            InvalidAttributeName => "InvalidAttributeName",
            InvalidAttributeValue => "InvalidAttributeValue",
            ReceiptHandleIsInvalid => "ReceiptHandleIsInvalid",
            MessageNotInflight => "MessageNotInflight",
            InvalidMessageContents => "InvalidMessageContents",
            TooManyEntriesInBatchRequest => "TooManyEntriesInBatchRequest",
            EmptyBatchRequest => "EmptyBatchRequest",
            BatchEntryIdsNotDistinct => "BatchEntryIdsNotDistinct",
            InvalidBatchEntryId => "InvalidBatchEntryId",
            BatchRequestTooLong => "BatchRequestTooLong",
            PurgeQueueInProgress => "PurgeQueueInProgress",
            UnsupportedOperation => "UnsupportedOperation",
            OverLimit => "OverLimit",
            ResourceNotFound => "ResourceNotFoundException",
            InvalidParameterValue => "InvalidParameterValue",
            MissingParameter => "MissingParameter",
            InvalidAction => "InvalidAction",
            MalformedInput => "SerializationException",
            RequestTooLarge => "RequestEntityTooLarge",
            RequestTimeout => "RequestTimeout",
            MissingAuthenticationToken => "MissingAuthenticationToken",
            InvalidClientTokenId => "InvalidClientTokenId",
            IncompleteSignature => "IncompleteSignature",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            RequestExpired => "RequestExpired",
            AccessDenied => "AccessDenied",
            NotFound => "NotFound",
            InvalidParameter => "InvalidParameter",
            AuthorizationError => "AuthorizationError",
            TagLimitExceeded => "TagLimitExceeded",
            Internal => "InternalError",
            ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The Query protocol's error code (SQS kept legacy names for some).
    pub fn query_code(&self) -> &'static str {
        use ErrorKind::*;
        match self.kind {
            QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            QueueNameExists => "QueueAlreadyExists",
            MessageNotInflight => "AWS.SimpleQueueService.MessageNotInflight",
            TooManyEntriesInBatchRequest => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            EmptyBatchRequest => "AWS.SimpleQueueService.EmptyBatchRequest",
            BatchEntryIdsNotDistinct => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            BatchRequestTooLong => "AWS.SimpleQueueService.BatchRequestTooLong",
            PurgeQueueInProgress => "AWS.SimpleQueueService.PurgeQueueInProgress",
            UnsupportedOperation => "AWS.SimpleQueueService.UnsupportedOperation",
            _ => self.type_name(),
        }
    }

    /// `Sender` when the request was wrong, `Receiver` when the service failed.
    pub fn fault(&self) -> &'static str {
        if matches!(
            self.kind,
            ErrorKind::Internal | ErrorKind::ServiceUnavailable
        ) {
            "Receiver"
        } else {
            "Sender"
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.type_name(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<SettingError> for ApiError {
    fn from(e: SettingError) -> ApiError {
        match e {
            SettingError::UnknownName(m) => ApiError::new(ErrorKind::InvalidAttributeName, m),
            SettingError::InvalidValue(m) => ApiError::new(ErrorKind::InvalidAttributeValue, m),
        }
    }
}

/// The queue rules' refusals as SQS names them.
impl From<crate::messaging::queue::QueueError> for ApiError {
    fn from(e: crate::messaging::queue::QueueError) -> ApiError {
        use crate::messaging::queue::QueueError as Q;
        let kind = match &e {
            Q::MissingGroupId => ErrorKind::MissingParameter,
            Q::ForeignReceipt { .. } => ErrorKind::ReceiptHandleIsInvalid,
            Q::PurgeTooSoon { .. } => ErrorKind::PurgeQueueInProgress,
            Q::TooLong { .. }
            | Q::DelayOnFifo { .. }
            | Q::MissingDedupId
            | Q::DedupIdOnStandard
            | Q::NotInflight { .. } => ErrorKind::InvalidParameterValue,
        };
        ApiError::new(kind, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::queue::QueueError;

    #[test]
    fn queue_errors_map_to_sqs_errors() {
        let cases = [
            (QueueError::MissingGroupId, ErrorKind::MissingParameter),
            (
                QueueError::ForeignReceipt { handle: "h".into() },
                ErrorKind::ReceiptHandleIsInvalid,
            ),
            (
                QueueError::PurgeTooSoon { queue: "q".into() },
                ErrorKind::PurgeQueueInProgress,
            ),
            (
                QueueError::TooLong { max: 1024 },
                ErrorKind::InvalidParameterValue,
            ),
            (
                QueueError::DelayOnFifo { delay: 5 },
                ErrorKind::InvalidParameterValue,
            ),
            (QueueError::MissingDedupId, ErrorKind::InvalidParameterValue),
            (
                QueueError::DedupIdOnStandard,
                ErrorKind::InvalidParameterValue,
            ),
            (
                QueueError::NotInflight { handle: "h".into() },
                ErrorKind::InvalidParameterValue,
            ),
        ];
        for (domain, kind) in cases {
            let message = domain.to_string();
            let wire = ApiError::from(domain);
            assert_eq!(wire.kind, kind);
            assert_eq!(wire.message, message);
        }
    }
}
