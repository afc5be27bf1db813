//! DynamoDB helpers: item conversion through `serde_dynamo`, keys and expression values, the
//! transaction items every store builds, batch reads, and recognition of the conditional-write
//! failures services turn into 409s.
//!
//! Every table of the project has string keys `pk` and `sk`.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::{
    Client, Error as DynamoError,
    types::{
        AttributeValue, CancellationReason, Delete, KeysAndAttributes, Put, TransactWriteItem,
    },
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{ApiError, error::Context as _};

/// A DynamoDB item (or key) as the SDK represents it.
pub type Item = HashMap<String, AttributeValue>;

/// Converts a value that serializes as a map into a DynamoDB item.
///
/// # Errors
/// When `value` does not serialize to a map (e.g. a bare number).
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, serde_dynamo::Error> {
    serde_dynamo::aws_sdk_dynamodb_1::to_item(value)
}

/// Converts a DynamoDB item into a value.
///
/// # Errors
/// When the item does not have `T`'s shape.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, serde_dynamo::Error> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
}

/// Converts a list of items, as a `Query` returns them.
///
/// # Errors
/// When any item does not have `T`'s shape.
pub fn from_items<T: DeserializeOwned>(items: Vec<Item>) -> Result<Vec<T>, serde_dynamo::Error> {
    items.into_iter().map(from_item).collect()
}

/// A string attribute.
#[must_use]
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
#[must_use]
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key `{pk, sk}`.
#[must_use]
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// `ExpressionAttributeNames` from pairs.
#[must_use]
pub fn names(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// `ExpressionAttributeValues` from pairs.
#[must_use]
pub fn values(pairs: Vec<(&str, AttributeValue)>) -> Option<HashMap<String, AttributeValue>> {
    Some(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A transaction item that puts `item` into `table`, under `condition` if any.
///
/// # Errors
/// 500 when the request cannot be built (a missing table name).
pub fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
) -> Result<TransactWriteItem, ApiError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .context("build a transactional put")?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Puts `item` into `table` unless an item with its key exists; answers whether it was written.
/// `what` names the item in errors.
///
/// # Errors
/// 500 on storage failure.
pub async fn put_if_absent(
    client: &Client,
    table: &str,
    item: Item,
    what: &str,
) -> Result<bool, ApiError> {
    let result = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .map_err(classify);
    match result {
        Ok(_) => Ok(true),
        Err(WriteFailure::ConditionFailed) => Ok(false),
        Err(failure) => Err(ApiError::internal(
            format!("write {what}"),
            failure.into_error(),
        )),
    }
}

/// A transaction item that deletes `key` from `table`.
///
/// # Errors
/// 500 when the request cannot be built.
pub fn delete(table: &str, key: Item) -> Result<TransactWriteItem, ApiError> {
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .build()
        .context("build a transactional delete")?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// Reads the item at `key` of `table` as a `T` (strongly consistent when `consistent`); `what`
/// names it in errors.
///
/// # Errors
/// 500 on storage failure or an item of another shape.
pub async fn get<T: DeserializeOwned>(
    client: &Client,
    table: &str,
    key: Item,
    consistent: bool,
    what: &str,
) -> Result<Option<T>, ApiError> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(consistent)
        .send()
        .await
        .with_context(|| format!("read {what}"))?;
    output
        .item
        .map(from_item)
        .transpose()
        .with_context(|| format!("read {what}"))
}

/// Runs one transaction.
///
/// # Errors
/// The failure, sorted by [`classify`].
pub async fn transact(client: &Client, items: Vec<TransactWriteItem>) -> Result<(), WriteFailure> {
    client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
        .map(|_| ())
        .map_err(classify)
}

/// Waits before retrying a write that lost a race: up to `10 ms × 2^attempt`, chosen at random
/// (full jitter), so that the racers spread out.
pub async fn backoff(attempt: u32) {
    use rand::Rng as _;
    let cap = 10_u64 << attempt.min(8);
    let wait = rand::thread_rng().gen_range(cap / 4..=cap);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Reads `keys` of `table` (any number), retrying what DynamoDB leaves unprocessed. Items that do
/// not exist are absent from the answer; the order is not the keys'.
///
/// # Errors
/// 500 on storage failure, or keys that stay unprocessed.
pub async fn batch_get(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
) -> Result<Vec<Item>, ApiError> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        let mut pending = chunk.to_vec();
        for attempt in 0..6 {
            if pending.is_empty() {
                break;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .build()
                .context("build a batch read")?;
            let output = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .context("batch read items")?;
            found.extend(
                output
                    .responses
                    .and_then(|mut r| r.remove(table))
                    .unwrap_or_default(),
            );
            pending = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !pending.is_empty() {
                backoff(attempt).await;
            }
        }
        if !pending.is_empty() {
            return Err(ApiError::internal(
                "batch read items",
                "keys stayed unprocessed",
            ));
        }
    }
    Ok(found)
}

/// Cancellation code DynamoDB reports for a transaction item whose condition failed.
pub const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";

/// Why one item of a cancelled transaction failed, in the order of the transaction's items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelReason {
    /// DynamoDB's code: `None` (this item was fine), `ConditionalCheckFailed`, `TransactionConflict`, ...
    pub code: String,
    /// DynamoDB's message, if any.
    pub message: Option<String>,
}

impl CancelReason {
    /// Whether this item's condition expression failed.
    #[must_use]
    pub fn is_condition_failed(&self) -> bool {
        self.code == CONDITIONAL_CHECK_FAILED
    }
}

impl From<&CancellationReason> for CancelReason {
    fn from(reason: &CancellationReason) -> Self {
        Self {
            code: reason.code().unwrap_or("None").to_owned(),
            message: reason.message().map(str::to_owned),
        }
    }
}

/// A failed DynamoDB call, sorted into what services decide on.
#[derive(Debug)]
pub enum WriteFailure {
    /// `ConditionalCheckFailedException`: a single-item write's condition did not hold.
    ConditionFailed,
    /// `TransactionCanceledException`: a transaction was cancelled; one reason per item, in order.
    TransactionCanceled(Vec<CancelReason>),
    /// Anything else (throttling, network, permissions): usually a 500.
    Other(DynamoError),
}

impl WriteFailure {
    /// Whether a condition failed: the single-item case, or any item of a cancelled transaction.
    #[must_use]
    pub fn is_condition_failed(&self) -> bool {
        match self {
            Self::ConditionFailed => true,
            Self::TransactionCanceled(reasons) => {
                reasons.iter().any(CancelReason::is_condition_failed)
            }
            Self::Other(_) => false,
        }
    }

    /// Whether a transaction lost a race (`TransactionConflict`) or was throttled: worth retrying.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::TransactionCanceled(reasons) => reasons
                .iter()
                .any(|r| r.code == "TransactionConflict" || r.code == "ThrottlingError"),
            Self::Other(e) => matches!(
                e,
                DynamoError::TransactionConflictException(_)
                    | DynamoError::ProvisionedThroughputExceededException(_)
                    | DynamoError::ThrottlingException(_)
                    | DynamoError::RequestLimitExceeded(_)
                    | DynamoError::InternalServerError(_)
            ),
            Self::ConditionFailed => false,
        }
    }

    /// The failure as an error to log or wrap.
    #[must_use]
    pub fn into_error(self) -> crate::error::BoxError {
        match self {
            Self::Other(e) => Box::new(e),
            Self::ConditionFailed => "a condition failed".into(),
            Self::TransactionCanceled(reasons) => format!(
                "transaction cancelled: {}",
                reasons
                    .iter()
                    .map(|r| r.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .into(),
        }
    }

    /// Indexes of the transaction items whose condition failed (empty unless transaction-cancelled).
    #[must_use]
    pub fn failed_conditions(&self) -> Vec<usize> {
        match self {
            Self::TransactionCanceled(reasons) => reasons
                .iter()
                .enumerate()
                .filter(|(_, r)| r.is_condition_failed())
                .map(|(i, _)| i)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Sorts any DynamoDB error (an `SdkError` of any operation, an operation error, or the service-wide
/// [`aws_sdk_dynamodb::Error`]) into a [`WriteFailure`].
///
/// ```
/// use aws_sdk_dynamodb::{operation::put_item::PutItemError, types::error::ConditionalCheckFailedException};
/// use shared::dynamo::{WriteFailure, classify};
///
/// let err = PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build());
/// assert!(matches!(classify(err), WriteFailure::ConditionFailed));
/// ```
#[must_use]
pub fn classify<E>(error: E) -> WriteFailure
where
    DynamoError: From<E>,
{
    match DynamoError::from(error) {
        DynamoError::ConditionalCheckFailedException(_) => WriteFailure::ConditionFailed,
        DynamoError::TransactionCanceledException(e) => WriteFailure::TransactionCanceled(
            e.cancellation_reasons()
                .iter()
                .map(CancelReason::from)
                .collect(),
        ),
        other => WriteFailure::Other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::{
        operation::{put_item::PutItemError, transact_write_items::TransactWriteItemsError},
        types::error::{
            ConditionalCheckFailedException, ResourceNotFoundException,
            TransactionCanceledException,
        },
    };
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Stock {
        pk: String,
        available: u32,
        tags: Vec<String>,
        note: Option<String>,
    }

    #[test]
    fn items_round_trip() {
        let stock = Stock {
            pk: "PRODUCT#1".into(),
            available: 5,
            tags: vec!["a".into()],
            note: None,
        };
        let item = to_item(&stock).unwrap();
        assert_eq!(item["pk"], AttributeValue::S("PRODUCT#1".into()));
        assert_eq!(item["available"], AttributeValue::N("5".into()));
        assert_eq!(from_item::<Stock>(item).unwrap(), stock);
    }

    #[test]
    fn an_item_of_the_wrong_shape_is_an_error() {
        let item: Item = [("pk".to_owned(), AttributeValue::N("1".into()))].into();
        assert!(from_item::<Stock>(item.clone()).is_err());
        assert!(from_items::<Stock>(vec![item]).is_err());
        assert!(to_item(&42).is_err());
    }

    #[test]
    fn a_failed_condition_on_a_single_write_is_recognised() {
        let err = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .build(),
        );
        let failure = classify(err);
        assert!(matches!(failure, WriteFailure::ConditionFailed));
        assert!(failure.is_condition_failed());
    }

    #[test]
    fn a_cancelled_transaction_reports_which_items_failed() {
        let exception = TransactionCanceledException::builder()
            .cancellation_reasons(CancellationReason::builder().code("None").build())
            .cancellation_reasons(
                CancellationReason::builder()
                    .code(CONDITIONAL_CHECK_FAILED)
                    .message("not enough stock")
                    .build(),
            )
            .build();
        let failure = classify(TransactWriteItemsError::TransactionCanceledException(
            exception,
        ));
        let WriteFailure::TransactionCanceled(reasons) = &failure else {
            panic!("expected a cancelled transaction")
        };
        assert_eq!(reasons.len(), 2);
        assert_eq!(reasons[1].message.as_deref(), Some("not enough stock"));
        assert!(failure.is_condition_failed());
        assert_eq!(failure.failed_conditions(), vec![1]);
    }

    #[test]
    fn a_transaction_cancelled_for_other_reasons_is_not_a_condition_failure() {
        let exception = TransactionCanceledException::builder()
            .cancellation_reasons(
                CancellationReason::builder()
                    .code("TransactionConflict")
                    .build(),
            )
            .build();
        let failure = classify(DynamoError::TransactionCanceledException(exception));
        assert!(!failure.is_condition_failed());
        assert!(failure.failed_conditions().is_empty());
    }

    #[test]
    fn other_errors_pass_through() {
        let err =
            PutItemError::ResourceNotFoundException(ResourceNotFoundException::builder().build());
        assert!(matches!(
            classify(err),
            WriteFailure::Other(DynamoError::ResourceNotFoundException(_))
        ));
    }
}
