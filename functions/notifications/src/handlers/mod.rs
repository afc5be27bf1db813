//! One module per function.

pub mod list_notifications;
pub mod order_events;
pub mod user_events;

#[cfg(test)]
pub(crate) mod samples {
    shared::sample_events! {
        list_notifications => "list-notifications.json",
    }
}
