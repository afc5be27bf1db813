//! Amazon States Language interpreter.
pub mod choice;
pub mod error;
pub mod intrinsic;
pub mod model;
pub mod path;
pub mod template;
