//! One module per function.

pub mod authorize;
pub mod bootstrap_admin;
pub mod change_password;
pub mod confirm_password_reset;
pub mod create_address;
pub mod custom_resource;
pub mod delete_address;
pub mod get_jwks;
pub mod get_profile;
pub mod jwt_keys;
pub mod list_addresses;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod register;
pub mod request_password_reset;
pub mod set_user_role;
pub mod update_address;
pub mod update_profile;
pub mod verify_email;
pub mod views;

use shared::http::id_in_path;

/// Sample events shared by the handler tests.
#[cfg(test)]
pub(crate) mod samples {
    shared::sample_events! {
        register => "register.json",
        get_jwks => "get-jwks.json",
        login => "login.json",
        refresh => "refresh.json",
        logout => "logout.json",
        get_profile => "get-profile.json",
        update_profile => "update-profile.json",
        list_addresses => "list-addresses.json",
        create_address => "create-address.json",
        update_address => "update-address.json",
        delete_address => "delete-address.json",
        set_user_role => "set-user-role.json",
        change_password => "change-password.json",
        request_password_reset => "request-password-reset.json",
        confirm_password_reset => "confirm-password-reset.json",
        verify_email => "verify-email.json",
    }
}
