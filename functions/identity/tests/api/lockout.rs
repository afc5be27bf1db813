//! The login lockout per email and source address through the local stack.

#[allow(unused_imports)]
use super::*;
