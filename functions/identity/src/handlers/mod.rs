//! One module per function.

pub mod authorize;
pub mod bootstrap_admin;
pub mod create_address;
pub mod delete_address;
pub mod get_profile;
pub mod list_addresses;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod register;
pub mod set_user_role;
pub mod update_address;
pub mod update_profile;
pub mod views;

use lambda_http::Request;
use shared::{ApiError, http::path_param, ids::parse_id};
use uuid::Uuid;

/// The id in path parameter `name`. Anything that is not an id cannot name an existing resource, so
/// it is a 404 rather than a 400: callers learn nothing about which ids exist.
fn id_in_path(req: &Request, name: &str, what: &str) -> Result<Uuid, ApiError> {
    path_param(req, name)
        .and_then(parse_id)
        .ok_or_else(|| ApiError::not_found(format!("No such {what}.")))
}

/// Sample events shared by the handler tests.
#[cfg(test)]
pub(crate) mod samples {
    use lambda_http::Request;

    macro_rules! sample {
        ($name:ident, $file:literal) => {
            #[doc = concat!("The sample event `events/", $file, "`.")]
            pub fn $name() -> Request {
                lambda_http::request::from_str(include_str!(concat!("../../../../events/", $file)))
                    .unwrap()
            }
        };
    }

    sample!(register, "register.json");
    sample!(login, "login.json");
    sample!(refresh, "refresh.json");
    sample!(logout, "logout.json");
    sample!(get_profile, "get-profile.json");
    sample!(update_profile, "update-profile.json");
    sample!(list_addresses, "list-addresses.json");
    sample!(create_address, "create-address.json");
    sample!(update_address, "update-address.json");
    sample!(delete_address, "delete-address.json");
    sample!(set_user_role, "set-user-role.json");
}
