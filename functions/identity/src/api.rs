//! Identity's routes in the OpenAPI document (the platform service merges every service's).

use utoipa::OpenApi;

use crate::handlers::{
    change_password, confirm_password_reset, create_address, delete_address, get_jwks, get_profile,
    list_addresses, login, logout, refresh, register, request_password_reset, set_user_role,
    update_address, update_profile, verify_email,
};

/// Identity's operations and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    paths(
        register::handle,
        verify_email::handle,
        login::handle,
        refresh::handle,
        logout::handle,
        request_password_reset::handle,
        confirm_password_reset::handle,
        change_password::handle,
        get_profile::handle,
        update_profile::handle,
        list_addresses::handle,
        create_address::handle,
        update_address::handle,
        delete_address::handle,
        set_user_role::handle,
        get_jwks::handle,
    ),
    tags((name = "accounts", description = "Registration and email verification, sessions, passwords, profiles, addresses and roles"))
)]
pub struct ApiDoc;
