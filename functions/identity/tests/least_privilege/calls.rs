//! What each identity binary's code calls: the DynamoDB actions on the identity table (with the
//! partition key patterns of the items it touches) and the Secrets Manager actions (with the
//! secret's logical id). A transaction's items count as the item actions they are: `Put` as
//! `PutItem`, `Update` as `UpdateItem`, `Delete` as `DeleteItem`, `ConditionCheck` as
//! `ConditionCheckItem`. The template must grant exactly this, no more.

use identity::store::Store;

/// The calls of one binary.
pub struct Calls {
    /// The binary (`src/bin/<binary>.rs`, the template's `BuildProperties.Binary`).
    pub binary: &'static str,
    /// DynamoDB actions on the identity table, each with the `dynamodb:LeadingKeys` patterns of
    /// the items it acts on.
    pub table: &'static [(&'static str, &'static [&'static str])],
    /// Secrets Manager actions, each with the logical id of its secret.
    pub secrets: &'static [(&'static str, &'static str)],
    /// For a function that only shows what it reads: the attributes its projection names. Its
    /// policy must allow reads of these (and the keys) only.
    pub projection: Option<&'static [&'static str]>,
}

const fn calls(
    binary: &'static str,
    table: &'static [(&'static str, &'static [&'static str])],
    secrets: &'static [(&'static str, &'static str)],
) -> Calls {
    Calls {
        binary,
        table,
        secrets,
        projection: None,
    }
}

const USER: &str = "USER#*";
const EMAIL: &str = "EMAIL#*";
const SESSION: &str = "SESSION#*";
const REFRESH: &str = "REFRESH#*";
const LOGIN: &str = "LOGIN#*";
const OUTBOX: &str = "OUTBOX#*";
const VERIFY: &str = "VERIFY#*";
const RESET: &str = "RESET#*";
const NOTICE: &str = "NOTICE#*";
const IDEMPOTENCY: &str = "IDEMPOTENCY#*";
const AUDIT: &str = "AUDIT#*";
const META: &str = "META";

const GET_SECRET: &str = "GetSecretValue";
const PUT_SECRET: &str = "PutSecretValue";

/// Every identity binary.
pub const CALLS: &[Calls] = &[
    calls(
        "register",
        &[
            ("GetItem", &[EMAIL, USER]),
            ("PutItem", &[USER, EMAIL, VERIFY, NOTICE, OUTBOX]),
            ("DeleteItem", &[OUTBOX]),
        ],
        &[],
    ),
    calls(
        "login",
        &[
            ("GetItem", &[LOGIN, EMAIL, USER]),
            ("UpdateItem", &[LOGIN, USER]),
            ("PutItem", &[LOGIN, SESSION, REFRESH]),
            ("DeleteItem", &[LOGIN]),
            ("ConditionCheckItem", &[USER]),
        ],
        &[(GET_SECRET, "JwtSigningKeys")],
    ),
    calls(
        "refresh",
        &[
            ("GetItem", &[REFRESH, SESSION, USER]),
            ("UpdateItem", &[REFRESH, SESSION]),
            ("PutItem", &[REFRESH]),
            ("ConditionCheckItem", &[SESSION, USER]),
        ],
        &[
            (GET_SECRET, "JwtSigningKeys"),
            (GET_SECRET, "RefreshRotationKey"),
        ],
    ),
    calls(
        "logout",
        &[("GetItem", &[REFRESH]), ("UpdateItem", &[SESSION])],
        &[],
    ),
    calls("authorizer", &[], &[(GET_SECRET, "JwtPublicKeys")]),
    calls("get-jwks", &[], &[(GET_SECRET, "JwtPublicKeys")]),
    Calls {
        binary: "get-profile",
        table: &[("GetItem", &[USER])],
        secrets: &[],
        projection: Some(Store::PROFILE_ATTRIBUTES),
    },
    calls(
        "update-profile",
        &[
            ("GetItem", &[USER]),
            ("UpdateItem", &[USER]),
            ("PutItem", &[OUTBOX]),
        ],
        &[],
    ),
    Calls {
        binary: "list-addresses",
        table: &[("Query", &[USER])],
        secrets: &[],
        projection: Some(Store::ADDRESS_BOOK_ATTRIBUTES),
    },
    calls(
        "create-address",
        &[
            ("GetItem", &[USER, IDEMPOTENCY]),
            ("PutItem", &[USER, IDEMPOTENCY]),
            ("UpdateItem", &[USER]),
        ],
        &[],
    ),
    calls(
        "update-address",
        &[
            ("Query", &[USER]),
            ("UpdateItem", &[USER]),
            ("ConditionCheckItem", &[USER]),
        ],
        &[],
    ),
    calls(
        "delete-address",
        &[
            ("Query", &[USER]),
            ("DeleteItem", &[USER]),
            ("UpdateItem", &[USER]),
            ("ConditionCheckItem", &[USER]),
        ],
        &[],
    ),
    calls(
        "set-user-role",
        &[
            ("GetItem", &[USER]),
            ("ConditionCheckItem", &[USER]),
            ("UpdateItem", &[USER, META]),
            ("PutItem", &[AUDIT]),
        ],
        &[],
    ),
    calls(
        "change-password",
        &[
            ("GetItem", &[USER, LOGIN]),
            ("UpdateItem", &[USER, LOGIN]),
            ("PutItem", &[LOGIN, SESSION, REFRESH, OUTBOX]),
            ("DeleteItem", &[LOGIN]),
        ],
        &[
            (GET_SECRET, "JwtSigningKeys"),
            (PUT_SECRET, "AdminInitialPassword"),
        ],
    ),
    calls(
        "request-password-reset",
        &[
            ("GetItem", &[EMAIL, USER]),
            ("PutItem", &[NOTICE, RESET, OUTBOX]),
            ("DeleteItem", &[OUTBOX]),
        ],
        &[],
    ),
    calls(
        "confirm-password-reset",
        &[
            ("GetItem", &[RESET, USER]),
            ("UpdateItem", &[RESET, USER]),
            ("PutItem", &[OUTBOX]),
        ],
        &[(PUT_SECRET, "AdminInitialPassword")],
    ),
    calls(
        "verify-email",
        &[("GetItem", &[VERIFY]), ("UpdateItem", &[VERIFY, USER])],
        &[],
    ),
    calls(
        "bootstrap-admin",
        &[
            ("GetItem", &[EMAIL, USER]),
            ("PutItem", &[EMAIL, USER, OUTBOX]),
            ("UpdateItem", &[META]),
        ],
        &[(GET_SECRET, "AdminInitialPassword")],
    ),
    calls(
        "jwt-keys",
        &[],
        &[
            (GET_SECRET, "JwtSigningKeys"),
            (PUT_SECRET, "JwtSigningKeys"),
            (GET_SECRET, "JwtPublicKeys"),
            (PUT_SECRET, "JwtPublicKeys"),
        ],
    ),
    calls("identity-publisher", &[], &[]),
];
