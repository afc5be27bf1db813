//! The first admin, created at deployment: a CloudFormation custom resource handler.
//!
//! The template declares `Custom::FirstAdmin` when the `AdminEmail` parameter is set. On Create and
//! Update this function reads the initial password from the secret named by the resource's
//! `PasswordSecretArn` (a plain string, or JSON with a `password` key), creates the account as an
//! admin (once: later runs find it; the run that creates it publishes `UserRegistered`, with the
//! request's `RequestId` as correlation id), and reports to CloudFormation through the request's
//! `ResponseURL`. An account someone registered with that email is never promoted: the resource
//! fails instead. Delete keeps the account: people's data outlives stacks.
//!
//! An admin that already exists needs no password, so the secret is read only to create one. That
//! keeps later deployments working once the admin has changed their password and the secret holds
//! the note that retired it ([`crate::initial_password`]).

use serde::Deserialize;
use serde_json::Value;

use crate::{
    domain::{Email, Password},
    handlers::custom_resource::{self, CustomResourceError, HttpsClient, Made},
    initial_password::is_retired,
    password::Hasher,
    store::{FirstAdmin, Store},
};

/// What the function needs.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The identity table.
    pub store: Store,
    /// Password hashing.
    pub hasher: Hasher,
    /// Reads the initial password.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Answers CloudFormation.
    pub http: HttpsClient,
}

/// The resource's properties.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// The admin's email.
    #[serde(default)]
    pub email: Option<String>,
    /// The secret holding the initial password.
    #[serde(default)]
    pub password_secret_arn: Option<String>,
}

/// Handles one request and answers CloudFormation. Returns the answer's status.
///
/// # Errors
/// Only when the event is not a request or the answer cannot be delivered; every other failure is
/// reported to CloudFormation as `FAILED` with its reason.
pub async fn handle(state: &Bootstrap, event: Value) -> Result<&'static str, CustomResourceError> {
    custom_resource::run(&state.http, event, "first-admin", async |request| {
        let properties = Properties::deserialize(&request.resource_properties)
            .map_err(|e| format!("the properties are not valid: {e}"))?;
        // Boxed: the whole future is too deep for the compiler's layout of the binary's main.
        let physical_id = Box::pin(create_admin(state, &properties, &request.request_id)).await?;
        Ok(Made {
            physical_id,
            data: Value::Object(serde_json::Map::new()),
        })
    })
    .await
}

async fn create_admin(
    state: &Bootstrap,
    properties: &Properties,
    request_id: &str,
) -> Result<String, String> {
    let email = properties
        .email
        .as_deref()
        .ok_or("the Email property is required")
        .and_then(|raw| Email::parse(raw).map_err(|_| "the Email property is not an email"))?;
    let secret_arn = properties
        .password_secret_arn
        .as_deref()
        .ok_or("the PasswordSecretArn property is required")?;
    let existing = state
        .store
        .user_by_email(email.as_str())
        .await
        .map_err(|e| format!("look for the admin: {}", shared::error::cause_chain(&e)))?;
    if let Some(user) = existing {
        return admin_ready(&email, user.provisioned, user.id);
    }
    let secret = state
        .secrets
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "read the initial password: {}",
                shared::error::cause_chain(&e)
            )
        })?;
    let raw = secret.secret_string().unwrap_or_default();
    let password = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => map
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => raw.to_owned(),
    };
    if is_retired(&password) {
        return Err(format!(
            "the initial password secret was retired (the admin changed it), yet {} has no account; \
             put a new initial password into the secret and deploy again",
            email.as_str()
        ));
    }
    let password =
        Password::parse(&password).map_err(|e| format!("the initial password {}", e.message))?;
    let hasher = state.hasher.clone();
    let hash = tokio::task::spawn_blocking(move || hasher.hash(password.expose()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let correlation_id = if shared::http::is_valid_correlation_id(request_id) {
        request_id.to_owned()
    } else {
        shared::ids::new_id().to_string()
    };
    let outcome = state
        .store
        .ensure_first_admin(
            email.as_str(),
            &hash,
            &shared::time::now_rfc3339(),
            &correlation_id,
        )
        .await
        .map_err(|e| format!("create the admin: {}", shared::error::cause_chain(&e)))?;
    match outcome {
        FirstAdmin::Ready(user_id) => admin_ready(&email, true, user_id),
        FirstAdmin::EmailTaken => admin_ready(&email, false, uuid::Uuid::nil()),
    }
}

/// The resource's physical id when the account of `email` is the provisioned admin; a failure
/// when someone registered it.
fn admin_ready(email: &Email, provisioned: bool, user_id: uuid::Uuid) -> Result<String, String> {
    if !provisioned {
        return Err(format!(
            "{} already has an account that was registered, not provisioned; it is not made an \
             admin. Choose another AdminEmail, or have an admin change that account's role.",
            email.as_str()
        ));
    }
    tracing::info!(%user_id, "first admin ready");
    Ok(format!("first-admin/{}", email.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_event_is_a_create_request() {
        let request: custom_resource::CustomResourceRequest =
            serde_json::from_str(include_str!("../../../../events/bootstrap-admin.json")).unwrap();
        assert_eq!(request.request_type, "Create");
        let properties = Properties::deserialize(&request.resource_properties).unwrap();
        assert!(properties.email.is_some());
        assert!(properties.password_secret_arn.is_some());
    }
}
