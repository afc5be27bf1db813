//! Identity's routes in the OpenAPI document (the platform service merges every service's).

use utoipa::OpenApi;

use crate::handlers::{
    create_address, delete_address, get_jwks, get_profile, list_addresses, login, logout, refresh,
    register, set_user_role, update_address, update_profile,
};

/// Identity's operations and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    paths(
        register::handle,
        login::handle,
        refresh::handle,
        logout::handle,
        get_profile::handle,
        update_profile::handle,
        list_addresses::handle,
        create_address::handle,
        update_address::handle,
        delete_address::handle,
        set_user_role::handle,
        get_jwks::handle,
    ),
    tags((name = "accounts", description = "Registration, sessions, profiles, addresses and roles"))
)]
pub struct ApiDoc;
