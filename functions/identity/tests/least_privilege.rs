//! Every identity function may do on its table and its secrets what its code does, and no more.
//!
//! The test reads `template.yaml` (no stack) and holds each identity function's IAM policies to
//! the list of calls its code makes, kept beside it in `least_privilege/calls.rs`:
//!
//! - The identity table is reached only through inline statements: no SAM DynamoDB policy
//!   template (they grant every item action on every item), no managed policy.
//! - The DynamoDB actions allowed are exactly those listed, on the table itself (no index, no
//!   other table, no `*`), each limited by `dynamodb:LeadingKeys` to exactly the listed partition
//!   key patterns. A transaction's items are authorized one by one as `PutItem`, `UpdateItem`,
//!   `DeleteItem` and `ConditionCheckItem`, so those are what a transaction needs.
//! - The attributes that decide who a user is and what they may do ([`PROTECTED`]) can be written
//!   only by the functions whose job that is: every other function allowed to put or update items
//!   carries a `Deny` on those writes to a user's items (`dynamodb:LeadingKeys` `USER#*`, as other
//!   items have a `sessionEpoch` of their own) with `ForAnyValue:StringEquals` over
//!   `dynamodb:Attributes` naming the attribute, and no function is denied a write its job needs.
//!   A `Deny` wins over any `Allow`, so no later widening of an `Allow` reopens those attributes.
//! - The Secrets Manager actions allowed are exactly those listed, each on its own secret;
//!   `register` and `logout` read none.
//! - The functions that only show a profile (`get-profile`, `list-addresses`) may read only with
//!   a projection (`dynamodb:Select` `SPECIFIC_ATTRIBUTES`) of exactly the attributes their code
//!   names ([`identity::store::Store::PROFILE_ATTRIBUTES`] and
//!   [`identity::store::Store::ADDRESS_BOOK_ATTRIBUTES`], with the keys), which leave out the
//!   password hash and the session epoch.
//!
//! The lists are checked against the code where that is cheap: every binary has a list and every
//! list a binary, and every action listed is one the crate's code makes somewhere.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use local_template::Template;
use serde_json::{Value, json};

#[path = "least_privilege/calls.rs"]
mod calls;

use calls::{CALLS, Calls};

/// The identity table's logical id.
const TABLE: &str = "IdentityTable";

/// The `dynamodb:LeadingKeys` pattern of a user's items (the user item and the addresses).
const USER_ITEMS: &str = "USER#*";

/// The item writes IAM checks `dynamodb:Attributes` of.
const WRITES: [&str; 2] = ["PutItem", "UpdateItem"];

/// Attributes of the user item that decide who someone is or what they may do.
const PROTECTED: [&str; 5] = [
    "role",
    "passwordHash",
    "sessionEpoch",
    "emailVerified",
    "provisioned",
];

/// Attributes a function that only shows a profile must never read.
const SECRET_ATTRIBUTES: [&str; 2] = ["passwordHash", "sessionEpoch"];

/// Whether `binary` may name `attribute` in an item write `action`.
fn may_write(binary: &str, attribute: &str, action: &str) -> bool {
    match attribute {
        // `register` puts a whole new user, whose role its code fixes to customer; it never
        // updates one.
        "role" => {
            matches!(binary, "set-user-role" | "bootstrap-admin")
                || (binary == "register" && action == "PutItem")
        }
        "passwordHash" | "sessionEpoch" => matches!(
            binary,
            "register" | "login" | "change-password" | "confirm-password-reset" | "bootstrap-admin"
        ),
        "emailVerified" => matches!(
            binary,
            "register" | "bootstrap-admin" | "verify-email" | "confirm-password-reset"
        ),
        "provisioned" => binary == "bootstrap-admin",
        other => panic!("{other} is not a protected attribute"),
    }
}

fn crate_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// An identity function as the template declares it.
struct Function {
    id: String,
    binary: String,
    policies: Vec<Value>,
}

/// The functions built from this crate, from the template in long JSON form.
fn identity_functions() -> Vec<Function> {
    let template = Template::from_file(crate_dir().join("../../template.yaml")).unwrap();
    let resources = template.raw()["Resources"].as_object().unwrap();
    let functions: Vec<Function> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .filter(|(_, r)| r["Properties"]["CodeUri"] == "functions/identity")
        .map(|(id, r)| Function {
            id: id.clone(),
            binary: r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id} names no binary"))
                .to_owned(),
            policies: match &r["Properties"]["Policies"] {
                Value::Null => Vec::new(),
                Value::Array(policies) => policies.clone(),
                single => vec![single.clone()],
            },
        })
        .collect();
    assert!(
        functions.len() >= 16,
        "{} identity functions",
        functions.len()
    );
    functions
}

fn calls_of(binary: &str) -> &'static Calls {
    CALLS
        .iter()
        .find(|c| c.binary == binary)
        .unwrap_or_else(|| panic!("{binary} has no list of calls in least_privilege/calls.rs"))
}

/// One policy statement.
#[derive(Debug, Clone)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<Value>,
    condition: Value,
}

fn one_or_many(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The statements of `function`'s policies; policy templates become the statements SAM expands
/// them to. A policy this test cannot read is a problem.
fn statements(function: &Function) -> Result<Vec<Statement>, String> {
    let mut found = Vec::new();
    for policy in &function.policies {
        let Some(object) = policy.as_object() else {
            return Err(format!("{}: managed policy {policy}", function.id));
        };
        if let Some(document) = object.get("Statement") {
            for statement in one_or_many(document) {
                found.push(Statement {
                    allow: statement["Effect"] == "Allow",
                    actions: one_or_many(&statement["Action"])
                        .iter()
                        .map(|a| a.as_str().unwrap_or_default().to_owned())
                        .collect(),
                    resources: one_or_many(&statement["Resource"]),
                    condition: statement["Condition"].clone(),
                });
            }
            continue;
        }
        let (name, parameters) = object.iter().next().ok_or("an empty policy")?;
        let expanded = match name.as_str() {
            "AWSSecretsManagerGetSecretValuePolicy" => Statement {
                allow: true,
                actions: vec!["secretsmanager:GetSecretValue".into()],
                resources: vec![parameters["SecretArn"].clone()],
                condition: Value::Null,
            },
            "SNSPublishMessagePolicy" => Statement {
                allow: true,
                actions: vec!["sns:Publish".into()],
                resources: vec![parameters["TopicName"].clone()],
                condition: Value::Null,
            },
            other => return Err(format!("{}: policy template {other}", function.id)),
        };
        found.push(expanded);
    }
    Ok(found)
}

fn table_arn() -> Value {
    json!({"Fn::GetAtt": [TABLE, "Arn"]})
}

fn dynamodb_action(action: &str) -> Option<&str> {
    action.strip_prefix("dynamodb:")
}

fn string_set(value: &Value) -> BTreeSet<String> {
    one_or_many(value)
        .iter()
        .map(|v| v.as_str().unwrap_or("<not a string>").to_owned())
        .collect()
}

/// The identity table actions `function` is allowed, each with its `LeadingKeys` patterns.
fn table_grants(
    function: &Function,
    statements: &[Statement],
) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for statement in statements.iter().filter(|s| s.allow) {
        let actions: Vec<&str> = statement
            .actions
            .iter()
            .filter_map(|a| dynamodb_action(a))
            .collect();
        if actions.is_empty() {
            continue;
        }
        if statement.resources != [table_arn()] {
            problems.push(format!(
                "{}: DynamoDB actions {actions:?} on {:?}, not on the identity table alone",
                function.id, statement.resources
            ));
        }
        let leading = &statement.condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
        let leading = if leading.is_null() {
            &statement.condition["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
        } else {
            leading
        };
        if leading.is_null() {
            problems.push(format!(
                "{}: {actions:?} are not limited by dynamodb:LeadingKeys",
                function.id
            ));
        }
        for action in actions {
            grants
                .entry(action.to_owned())
                .or_default()
                .extend(string_set(leading));
        }
    }
    (grants, problems)
}

/// Whether a `Deny` among `statements` refuses every `action` on a user's items that names
/// `attribute`.
fn denies_writing(statements: &[Statement], action: &str, attribute: &str) -> bool {
    statements.iter().filter(|s| !s.allow).any(|s| {
        let covers_action = s
            .actions
            .iter()
            .any(|a| a == &format!("dynamodb:{action}") || a == "dynamodb:*");
        let covers_table = s.resources.contains(&table_arn()) || s.resources.contains(&json!("*"));
        let Some(condition) = s.condition.as_object() else {
            return false;
        };
        // Nothing but the attribute, and at most a limit to items that include the user's: any
        // other condition would narrow what the Deny refuses.
        let only = |operator: &str, key: &str| {
            condition
                .get(operator)
                .and_then(Value::as_object)
                .is_some_and(|c| c.len() == 1 && c.contains_key(key))
        };
        let names_attribute = only("ForAnyValue:StringEquals", "dynamodb:Attributes")
            && string_set(&condition["ForAnyValue:StringEquals"]["dynamodb:Attributes"])
                .contains(attribute);
        let on_user_items = match condition.len() {
            1 => true,
            2 => {
                only("ForAllValues:StringLike", "dynamodb:LeadingKeys")
                    && string_set(&condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
                        .contains(USER_ITEMS)
            }
            _ => false,
        };
        covers_action && covers_table && names_attribute && on_user_items
    })
}

/// The problems of `function`'s policies measured against `calls`: an empty list is a pass.
fn problems(function: &Function, calls: &Calls) -> Vec<String> {
    let statements = match statements(function) {
        Ok(statements) => statements,
        Err(problem) => return vec![problem],
    };
    let (grants, mut problems) = table_grants(function, &statements);

    let listed: BTreeMap<String, BTreeSet<String>> = calls
        .table
        .iter()
        .map(|(action, keys)| {
            (
                (*action).to_owned(),
                keys.iter().map(|k| (*k).to_owned()).collect(),
            )
        })
        .collect();
    for (action, keys) in &grants {
        match listed.get(action) {
            None => problems.push(format!(
                "{}: allows dynamodb:{action}, which {} never calls",
                function.id, calls.binary
            )),
            Some(expected) if expected != keys => problems.push(format!(
                "{}: dynamodb:{action} on items {keys:?}, but {} touches {expected:?}",
                function.id, calls.binary
            )),
            Some(_) => {}
        }
    }
    for action in listed.keys().filter(|a| !grants.contains_key(*a)) {
        problems.push(format!(
            "{}: {} calls dynamodb:{action}, which its policies do not allow",
            function.id, calls.binary
        ));
    }

    for action in WRITES.iter().filter(|a| grants.contains_key(**a)) {
        for attribute in PROTECTED {
            let allowed = may_write(calls.binary, attribute, action);
            let denied = denies_writing(&statements, action, attribute);
            if !allowed && !denied {
                problems.push(format!(
                    "{}: may {action} items naming {attribute}: it needs a Deny with \
                     ForAnyValue:StringEquals dynamodb:Attributes [{attribute}]",
                    function.id
                ));
            }
            if allowed && denied {
                problems.push(format!(
                    "{}: is denied the {action} of {attribute} that its code makes",
                    function.id
                ));
            }
        }
    }

    // (action, resource as JSON text): a secret is `{"Ref": "<logical id>"}`.
    let secrets: BTreeSet<(String, String)> = statements
        .iter()
        .filter(|s| s.allow)
        .flat_map(|s| {
            s.actions
                .iter()
                .filter_map(|a| a.strip_prefix("secretsmanager:"))
                .flat_map(|a| {
                    s.resources
                        .iter()
                        .map(move |r| (a.to_owned(), r.to_string()))
                })
        })
        .collect();
    let listed_secrets: BTreeSet<(String, String)> = calls
        .secrets
        .iter()
        .map(|(action, secret)| ((*action).to_owned(), json!({"Ref": secret}).to_string()))
        .collect();
    for extra in secrets.difference(&listed_secrets) {
        problems.push(format!(
            "{}: allows secretsmanager:{} on {}, which {} never calls",
            function.id, extra.0, extra.1, calls.binary
        ));
    }
    for missing in listed_secrets.difference(&secrets) {
        problems.push(format!(
            "{}: {} calls secretsmanager:{} on {}, which its policies do not allow",
            function.id, calls.binary, missing.0, missing.1
        ));
    }

    if let Some(projection) = calls.projection {
        problems.extend(projection_problems(function, &statements, projection));
    }
    problems
}

/// A function that only shows what it reads: every read it is allowed names exactly `projection`
/// and the keys, and asks for those attributes only.
fn projection_problems(
    function: &Function,
    statements: &[Statement],
    projection: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    let expected: BTreeSet<String> = ["pk", "sk"]
        .iter()
        .chain(projection)
        .map(|a| (*a).to_owned())
        .collect();
    for hidden in SECRET_ATTRIBUTES {
        if expected.contains(hidden) {
            problems.push(format!("{}: its projection names {hidden}", function.id));
        }
    }
    for statement in statements.iter().filter(|s| s.allow) {
        if !statement.actions.iter().any(|a| a.starts_with("dynamodb:")) {
            continue;
        }
        let attributes = &statement.condition["ForAllValues:StringEquals"]["dynamodb:Attributes"];
        if string_set(attributes) != expected {
            problems.push(format!(
                "{}: reads {:?} limited to {attributes}, not to its projection {expected:?}",
                function.id, statement.actions
            ));
        }
        let select = ["StringEquals", "StringEqualsIfExists"]
            .iter()
            .map(|op| &statement.condition[op]["dynamodb:Select"])
            .find(|v| !v.is_null());
        if select != Some(&json!("SPECIFIC_ATTRIBUTES")) {
            problems.push(format!(
                "{}: reads {:?} without requiring dynamodb:Select SPECIFIC_ATTRIBUTES",
                function.id, statement.actions
            ));
        }
    }
    problems
}

fn assert_no_problems(found: Vec<String>) {
    assert!(found.is_empty(), "\n{}", found.join("\n"));
}

#[test]
fn every_binary_has_its_list_of_calls_and_every_list_its_binary_and_function() {
    let in_code: BTreeSet<String> = std::fs::read_dir(crate_dir().join("src/bin"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = CALLS.iter().map(|c| c.binary.to_owned()).collect();
    let in_template: BTreeSet<String> =
        identity_functions().into_iter().map(|f| f.binary).collect();
    assert_eq!(listed.len(), CALLS.len(), "a binary is listed twice");
    assert_eq!(listed, in_code, "listed binaries vs. src/bin");
    assert_eq!(listed, in_template, "listed binaries vs. the template");
}

#[test]
fn no_identity_function_reaches_the_table_through_a_policy_template() {
    for function in identity_functions() {
        for policy in &function.policies {
            let text = policy.to_string();
            let name = policy
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_else(|| text.clone());
            assert!(
                !name.contains("Dynamo"),
                "{}: uses {name} instead of inline statements",
                function.id
            );
        }
    }
}

#[test]
fn each_function_may_do_exactly_what_its_code_does() {
    let mut found = Vec::new();
    for function in identity_functions() {
        found.extend(problems(&function, calls_of(&function.binary)));
    }
    assert_no_problems(found);
}

#[test]
fn only_the_functions_whose_job_it_is_can_write_what_decides_who_a_user_is() {
    // Who can write each attribute on a user's items: allowed a write there and not denied it.
    let functions = identity_functions();
    let mut writers: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for function in &functions {
        let statements = statements(function).unwrap();
        let (grants, _) = table_grants(function, &statements);
        for attribute in PROTECTED {
            let writes = WRITES.iter().any(|action| {
                grants
                    .get(*action)
                    .is_some_and(|keys| keys.contains(USER_ITEMS))
                    && !denies_writing(&statements, action, attribute)
            });
            if writes {
                writers
                    .entry(attribute)
                    .or_default()
                    .insert(function.binary.clone());
            }
        }
    }
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        writers["role"],
        set(&["bootstrap-admin", "register", "set-user-role"])
    );
    let password_paths = set(&[
        "bootstrap-admin",
        "change-password",
        "confirm-password-reset",
        "login",
        "register",
    ]);
    assert_eq!(writers["passwordHash"], password_paths);
    assert_eq!(writers["sessionEpoch"], password_paths);
    assert_eq!(
        writers["emailVerified"],
        set(&[
            "bootstrap-admin",
            "confirm-password-reset",
            "register",
            "verify-email"
        ])
    );
    assert_eq!(writers["provisioned"], set(&["bootstrap-admin"]));
    // register writes a role only by putting a whole new user, never by an update.
    let register = functions.iter().find(|f| f.binary == "register").unwrap();
    let statements = statements(register).unwrap();
    let (grants, _) = table_grants(register, &statements);
    assert!(
        !grants.contains_key("UpdateItem") || denies_writing(&statements, "UpdateItem", "role")
    );
}

#[test]
fn register_and_logout_read_no_secret() {
    for function in identity_functions()
        .iter()
        .filter(|f| f.binary == "register" || f.binary == "logout")
    {
        let secrets: Vec<String> = statements(function)
            .unwrap()
            .into_iter()
            .flat_map(|s| s.actions)
            .filter(|a| a.starts_with("secretsmanager:"))
            .collect();
        assert!(secrets.is_empty(), "{}: {secrets:?}", function.id);
    }
}

#[test]
fn the_functions_that_show_a_profile_can_read_only_what_they_show() {
    let functions = identity_functions();
    for binary in ["get-profile", "list-addresses"] {
        let calls = calls_of(binary);
        let projection = calls
            .projection
            .unwrap_or_else(|| panic!("{binary} lists no projection"));
        let function = functions.iter().find(|f| f.binary == binary).unwrap();
        let statements = statements(function).unwrap();
        assert!(
            statements
                .iter()
                .any(|s| s.allow && s.actions.iter().any(|a| a.starts_with("dynamodb:"))),
            "{binary} reads nothing"
        );
        assert_no_problems(projection_problems(function, &statements, projection));
    }
}

/// The item actions the crate's code makes, by the calls that make them.
const MARKERS: [(&str, &[&str]); 7] = [
    ("GetItem", &[".get_item()"]),
    ("Query", &[".query()"]),
    ("Scan", &[".scan()"]),
    (
        "PutItem",
        &[".put_item()", "Put::builder()", "outbox::put("],
    ),
    ("UpdateItem", &[".update_item()", "Update::builder()"]),
    ("DeleteItem", &[".delete_item()", "Delete::builder()"]),
    ("ConditionCheckItem", &["ConditionCheck::builder()"]),
];

fn sources(dir: &Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_listed_action_is_one_the_code_makes() {
    let mut code = String::new();
    sources(&crate_dir().join("src"), &mut code);
    let made: BTreeSet<&str> = MARKERS
        .iter()
        .filter(|(_, markers)| markers.iter().any(|m| code.contains(m)))
        .map(|(action, _)| *action)
        .collect();
    assert!(made.contains("GetItem") && made.contains("PutItem"));
    for calls in CALLS {
        for (action, _) in calls.table {
            assert!(
                made.contains(action),
                "{} lists {action}, which no code of the crate calls",
                calls.binary
            );
        }
    }
}

#[test]
fn the_checks_refuse_a_crud_policy_a_missing_deny_and_an_unprojected_read() {
    let register = calls_of("register");
    let crud = Function {
        id: "RegisterFunction".into(),
        binary: "register".into(),
        policies: vec![json!({"DynamoDBCrudPolicy": {"TableName": {"Ref": TABLE}}})],
    };
    assert_eq!(problems(&crud, register).len(), 1);

    let allow = |actions: &[&str], keys: &[&str]| {
        json!({
            "Effect": "Allow",
            "Action": actions.iter().map(|a| format!("dynamodb:{a}")).collect::<Vec<_>>(),
            "Resource": table_arn(),
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}},
        })
    };
    let logout = calls_of("logout");
    let without_deny = Function {
        id: "LogoutFunction".into(),
        binary: "logout".into(),
        policies: vec![json!({"Statement": [
            allow(&["GetItem"], &["REFRESH#*"]),
            allow(&["UpdateItem"], &["SESSION#*"]),
        ]})],
    };
    let found = problems(&without_deny, logout);
    for attribute in PROTECTED {
        assert!(
            found.iter().any(|p| p.contains(&format!("[{attribute}]"))),
            "{attribute}: {found:?}"
        );
    }
    let with_deny = Function {
        policies: vec![json!({"Statement": [
            allow(&["GetItem"], &["REFRESH#*"]),
            allow(&["UpdateItem", "Scan"], &["SESSION#*"]),
            {
                "Effect": "Deny",
                "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
                "Resource": table_arn(),
                "Condition": {
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [USER_ITEMS]},
                    "ForAnyValue:StringEquals": {"dynamodb:Attributes": PROTECTED},
                },
            },
        ]})],
        ..without_deny
    };
    assert_eq!(
        problems(&with_deny, logout),
        ["LogoutFunction: allows dynamodb:Scan, which logout never calls"]
    );
    let narrowed = Function {
        policies: vec![json!({"Statement": [
            allow(&["GetItem"], &["REFRESH#*"]),
            allow(&["UpdateItem"], &["SESSION#*"]),
            {
                "Effect": "Deny",
                "Action": "dynamodb:UpdateItem",
                "Resource": table_arn(),
                "Condition": {
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["OUTBOX#*"]},
                    "ForAnyValue:StringEquals": {"dynamodb:Attributes": PROTECTED},
                },
            },
        ]})],
        ..with_deny
    };
    assert_eq!(problems(&narrowed, logout).len(), PROTECTED.len());

    let get_profile = calls_of("get-profile");
    let unprojected = Function {
        id: "GetProfileFunction".into(),
        binary: "get-profile".into(),
        policies: vec![json!({"Statement": [allow(&["GetItem"], &["USER#*"])]})],
    };
    assert_eq!(problems(&unprojected, get_profile).len(), 2);
}
