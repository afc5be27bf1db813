//! Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "nextCursor": "..."|null}` out.
//!
//! A cursor is opaque to clients: `base64url(payload) "." base64url(tag)`, where the payload is the
//! JSON of the position (typically DynamoDB's `LastEvaluatedKey`) and the tag is an HMAC-SHA256 over a
//! version, a *scope* and the payload. The scope names the list and its owner (e.g.
//! `orders:<userId>`), so a cursor only works on the list that issued it. Anything forged, truncated,
//! altered or issued for another scope is a 400 `INVALID_CURSOR`, never a 500.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
};

use aws_sdk_dynamodb::{primitives::Blob, types::AttributeValue};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use lambda_http::Request;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Sha256;

use crate::{dynamo::Item, error::ApiError, http::query_param};

/// Page size when the client sends no `limit`.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest accepted `limit`.
pub const MAX_LIMIT: u32 = 100;
/// Longest cursor accepted; longer ones are rejected before any decoding.
pub const MAX_CURSOR_LEN: usize = 4096;
/// Shortest accepted signing key, in bytes.
pub const MIN_KEY_LEN: usize = 32;

const CODE: &str = "INVALID_CURSOR";
const TAG_LEN: usize = 32;
const DOMAIN: &[u8] = b"cursor.v1\0";

type HmacSha256 = Hmac<Sha256>;

/// The signing key given to [`CursorCodec::new`] is shorter than [`MIN_KEY_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor signing key must be at least {MIN_KEY_LEN} bytes, got {0}")]
pub struct KeyTooShort(pub usize);

/// Signs and verifies cursors with one secret key (read once from config or Secrets Manager).
#[derive(Clone)]
pub struct CursorCodec {
    keyed: HmacSha256,
}

impl fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorCodec { key: <redacted> }")
    }
}

impl CursorCodec {
    /// A codec signing with `key`.
    ///
    /// # Errors
    /// [`KeyTooShort`] when the key has fewer than [`MIN_KEY_LEN`] bytes.
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, KeyTooShort> {
        let key = key.into();
        if key.len() < MIN_KEY_LEN {
            return Err(KeyTooShort(key.len()));
        }
        let keyed = HmacSha256::new_from_slice(&key).map_err(|_| KeyTooShort(key.len()))?;
        Ok(Self { keyed })
    }

    /// Encodes any serializable position as a cursor valid for `scope`.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when `value` cannot be serialized.
    pub fn encode<T: Serialize + ?Sized>(
        &self,
        scope: &str,
        value: &T,
    ) -> Result<String, ApiError> {
        let payload =
            serde_json::to_vec(value).map_err(|e| ApiError::internal("encode a page cursor", e))?;
        let tag = self.tag(scope, &payload);
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// Decodes a cursor issued by [`CursorCodec::encode`] for the same `scope`.
    ///
    /// # Errors
    /// 400 `INVALID_CURSOR` when the cursor is empty, too long, malformed, forged, altered, issued for
    /// another scope, or does not hold a `T`.
    pub fn decode<T: DeserializeOwned>(&self, scope: &str, cursor: &str) -> Result<T, ApiError> {
        if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
            return Err(invalid());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        if tag.len() != TAG_LEN {
            return Err(invalid());
        }
        self.mac(scope, &payload)
            .verify_slice(&tag)
            .map_err(|_| invalid())?;
        serde_json::from_slice(&payload).map_err(|_| invalid())
    }

    /// Encodes a DynamoDB key (a `LastEvaluatedKey`) as a cursor valid for `scope`.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when a key attribute is not a string, number or binary (DynamoDB keys
    /// never are).
    pub fn encode_key(&self, scope: &str, key: &Item) -> Result<String, ApiError> {
        // Ordered, so one position always gives the same cursor (and a page the same ETag).
        let mut plain = BTreeMap::new();
        for (name, value) in key {
            let value = match value {
                AttributeValue::S(s) => KeyValue::S(s.clone()),
                AttributeValue::N(n) => KeyValue::N(n.clone()),
                AttributeValue::B(b) => KeyValue::B(URL_SAFE_NO_PAD.encode(b.as_ref())),
                _ => {
                    return Err(ApiError::internal(
                        "encode a page cursor",
                        format!("key attribute {name} is not of a key type"),
                    ));
                }
            };
            plain.insert(name.as_str(), value);
        }
        self.encode(scope, &plain)
    }

    /// Decodes a cursor made by [`CursorCodec::encode_key`] back into an `ExclusiveStartKey`.
    ///
    /// # Errors
    /// As [`CursorCodec::decode`].
    pub fn decode_key(&self, scope: &str, cursor: &str) -> Result<Item, ApiError> {
        let plain: HashMap<String, KeyValue> = self.decode(scope, cursor)?;
        plain
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    KeyValue::S(s) => AttributeValue::S(s),
                    KeyValue::N(n) => AttributeValue::N(n),
                    KeyValue::B(b) => AttributeValue::B(Blob::new(
                        URL_SAFE_NO_PAD.decode(b).map_err(|_| invalid())?,
                    )),
                };
                Ok((name, value))
            })
            .collect()
    }

    /// The `nextCursor` for a query result: `None` when DynamoDB returned no `LastEvaluatedKey`.
    ///
    /// # Errors
    /// As [`CursorCodec::encode_key`].
    pub fn next_cursor(
        &self,
        scope: &str,
        last_evaluated_key: Option<&Item>,
    ) -> Result<Option<String>, ApiError> {
        last_evaluated_key
            .filter(|key| !key.is_empty())
            .map(|key| self.encode_key(scope, key))
            .transpose()
    }

    /// Where the page `page` asks for starts: its cursor decoded for `scope`, or the beginning.
    ///
    /// # Errors
    /// As [`CursorCodec::decode_key`].
    pub fn start_key(&self, scope: &str, page: &PageRequest) -> Result<Option<Item>, ApiError> {
        page.cursor
            .as_deref()
            .map(|cursor| self.decode_key(scope, cursor))
            .transpose()
    }

    /// A page of `items` whose `nextCursor` encodes `next` (the last key read) for `scope`.
    ///
    /// # Errors
    /// As [`CursorCodec::encode_key`].
    pub fn page<T>(
        &self,
        scope: &str,
        items: Vec<T>,
        next: Option<&Item>,
    ) -> Result<Page<T>, ApiError> {
        Ok(Page {
            items,
            next_cursor: self.next_cursor(scope, next)?,
        })
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(DOMAIN);
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(payload);
        mac
    }

    fn tag(&self, scope: &str, payload: &[u8]) -> Vec<u8> {
        self.mac(scope, payload).finalize().into_bytes().to_vec()
    }
}

/// A DynamoDB key attribute in a cursor payload: `{"S": "..."}`, `{"N": "..."}` or `{"B": "<base64url>"}`.
#[derive(Serialize, Deserialize)]
enum KeyValue {
    S(String),
    N(String),
    B(String),
}

fn invalid() -> ApiError {
    ApiError::bad_request(
        CODE,
        "The cursor is not valid for this list; start again without a cursor.",
    )
}

/// Parses the `limit` query parameter: [`DEFAULT_LIMIT`] when absent, otherwise an integer in
/// `1..=`[`MAX_LIMIT`].
///
/// # Errors
/// 400 `INVALID_LIMIT` for anything else (including an empty value).
pub fn parse_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.trim().parse::<u32>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(ApiError::bad_request(
            "INVALID_LIMIT",
            format!("limit must be an integer from 1 to {MAX_LIMIT}."),
        )),
    }
}

/// The paging parameters of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items to return, `1..=100`.
    pub limit: u32,
    /// The client's cursor, still opaque (decode it with the list's scope).
    pub cursor: Option<String>,
}

impl PageRequest {
    /// Reads `limit` and `cursor` from the query string.
    ///
    /// # Errors
    /// As [`parse_limit`].
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        Ok(Self {
            limit: parse_limit(query_param(req, "limit"))?,
            cursor: query_param(req, "cursor").map(str::to_owned),
        })
    }

    /// The limit as DynamoDB's `Limit` parameter expects it.
    #[must_use]
    pub fn dynamo_limit(&self) -> i32 {
        i32::try_from(self.limit).unwrap_or(i32::MAX)
    }
}

/// One page of a list: `{"items": [...], "nextCursor": "..."|null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor of the next page, `null` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};

    fn codec() -> CursorCodec {
        CursorCodec::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    fn key() -> Item {
        [
            ("pk".to_owned(), AttributeValue::S("USER#42".into())),
            ("sk".to_owned(), AttributeValue::N("1700000000".into())),
            (
                "bin".to_owned(),
                AttributeValue::B(Blob::new(vec![0, 255, 7])),
            ),
        ]
        .into()
    }

    fn assert_invalid_cursor(result: Result<Item, ApiError>) {
        let error = result.unwrap_err();
        assert_eq!(error.status(), 400);
        assert_eq!(error.code(), "INVALID_CURSOR");
    }

    #[test]
    fn a_last_evaluated_key_round_trips() {
        let cursor = codec().encode_key("orders:42", &key()).unwrap();
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        );
        assert_eq!(codec().decode_key("orders:42", &cursor).unwrap(), key());
    }

    #[test]
    fn any_serializable_position_round_trips() {
        let cursor = codec().encode("search", &(17_u32, "mug")).unwrap();
        assert_eq!(
            codec().decode::<(u32, String)>("search", &cursor).unwrap(),
            (17, "mug".to_owned())
        );
    }

    #[test]
    fn a_cursor_signed_with_another_key_is_rejected() {
        let other = CursorCodec::new(vec![7_u8; 32]).unwrap();
        let forged = other.encode_key("orders:42", &key()).unwrap();
        assert_invalid_cursor(codec().decode_key("orders:42", &forged));
    }

    #[test]
    fn a_cursor_with_an_edited_payload_is_rejected() {
        let cursor = codec().encode_key("orders:42", &key()).unwrap();
        let (_, tag) = cursor.split_once('.').unwrap();
        let payload =
            serde_json::to_vec(&HashMap::from([("pk", KeyValue::S("USER#43".into()))])).unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(payload));
        assert_invalid_cursor(codec().decode_key("orders:42", &forged));
    }

    #[test]
    fn a_cursor_for_another_scope_is_rejected() {
        let cursor = codec().encode_key("orders:42", &key()).unwrap();
        assert_invalid_cursor(codec().decode_key("orders:43", &cursor));
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let cursor = codec().encode_key("orders:42", &key()).unwrap();
        let bytes = cursor.as_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.to_vec();
                flipped[i] ^= 1 << bit;
                let Ok(text) = String::from_utf8(flipped) else {
                    continue;
                };
                if text == cursor {
                    continue;
                }
                assert!(
                    codec().decode_key("orders:42", &text).is_err(),
                    "accepted {text}"
                );
            }
        }
    }

    #[test]
    fn truncated_cursors_are_rejected() {
        let cursor = codec().encode_key("orders:42", &key()).unwrap();
        for len in 0..cursor.len() {
            assert_invalid_cursor(codec().decode_key("orders:42", &cursor[..len]));
        }
    }

    #[test]
    fn garbage_and_empty_cursors_are_rejected() {
        for garbage in [
            "",
            ".",
            "..",
            "abc",
            "abc.def",
            "%%%.%%%",
            "eyJwayI6eyJTIjoiMSJ9fQ",
            "null.null",
        ] {
            assert_invalid_cursor(codec().decode_key("orders:42", garbage));
        }
        assert_invalid_cursor(codec().decode_key("orders:42", &"A".repeat(MAX_CURSOR_LEN + 1)));
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let len = rng.gen_range(0..200);
            let mut raw = vec![0_u8; len];
            rng.fill_bytes(&mut raw);
            let text = String::from_utf8_lossy(&raw).into_owned();
            assert_invalid_cursor(codec().decode_key("orders:42", &text));
            let b64 = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(&raw),
                URL_SAFE_NO_PAD.encode(&raw[..len.min(32)])
            );
            assert_invalid_cursor(codec().decode_key("orders:42", &b64));
        }
    }

    #[test]
    fn a_validly_signed_cursor_of_another_shape_is_rejected() {
        let cursor = codec().encode("orders:42", &[1, 2, 3]).unwrap();
        assert_invalid_cursor(codec().decode_key("orders:42", &cursor));
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            CursorCodec::new(b"short".to_vec()).unwrap_err(),
            KeyTooShort(5)
        );
        assert!(!format!("{:?}", codec()).contains("0123"));
    }

    #[test]
    fn next_cursor_is_none_on_the_last_page() {
        assert_eq!(codec().next_cursor("s", None).unwrap(), None);
        assert_eq!(codec().next_cursor("s", Some(&Item::new())).unwrap(), None);
        assert!(codec().next_cursor("s", Some(&key())).unwrap().is_some());
    }

    #[test]
    fn limit_defaults_to_20_and_accepts_1_to_100() {
        assert_eq!(parse_limit(None).unwrap(), 20);
        assert_eq!(parse_limit(Some("1")).unwrap(), 1);
        assert_eq!(parse_limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "", "ten", "1.5", "99999999999999999999"] {
            let error = parse_limit(Some(bad)).unwrap_err();
            assert_eq!(
                (error.status().as_u16(), error.code()),
                (400, "INVALID_LIMIT"),
                "{bad}"
            );
        }
    }

    #[test]
    fn page_request_reads_the_query_string() {
        use lambda_http::RequestExt;
        let req = lambda_http::http::Request::builder()
            .uri("/v1/orders?limit=5&cursor=abc")
            .body(lambda_http::Body::Empty)
            .unwrap()
            .with_query_string_parameters(HashMap::from([
                ("limit".to_owned(), "5".to_owned()),
                ("cursor".to_owned(), "abc".to_owned()),
            ]));
        let page = PageRequest::from_request(&req).unwrap();
        assert_eq!(
            page,
            PageRequest {
                limit: 5,
                cursor: Some("abc".into())
            }
        );
        assert_eq!(page.dynamo_limit(), 5);
    }

    #[test]
    fn a_page_serializes_with_next_cursor() {
        let page = Page {
            items: vec![1, 2],
            next_cursor: None,
        };
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"items":[1,2],"nextCursor":null}"#
        );
    }

    #[test]
    fn one_position_always_gives_the_same_cursor() {
        let codec = codec();
        let key: Item = (0..8)
            .map(|i| {
                (
                    format!("attribute{i}"),
                    AttributeValue::S(format!("value{i}")),
                )
            })
            .collect();
        let first = codec.encode_key("list", &key).unwrap();
        for _ in 0..20 {
            let again: Item = key.clone().into_iter().collect();
            assert_eq!(codec.encode_key("list", &again).unwrap(), first);
        }
    }
}
