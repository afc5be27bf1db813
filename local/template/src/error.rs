//! The one error type of template loading and resolution.

use std::path::PathBuf;

/// Why a template could not be read or resolved. Messages name the template
/// element at fault (resource, parameter, attribute); [`TemplateError::At`]
/// says where and leaves the cause to `source()`, so show the whole chain
/// (`{:#}` of an `anyhow::Error`, or [`TemplateError::chain`]).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template (or a file it points to) could not be read.
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The YAML itself is malformed.
    #[error("parse YAML")]
    Yaml(#[from] saphyr::ScanError),
    /// A short-form tag this crate does not know.
    #[error("unknown YAML tag `!{0}`")]
    UnknownTag(String),
    /// A `Ref` or `${...}` names nothing the template defines.
    #[error("unknown name `{0}`: not a parameter, resource or pseudo parameter")]
    UnknownRef(String),
    /// `Fn::GetAtt` asks for an attribute the local stack does not provide.
    #[error("resource `{resource}` ({kind}) has no attribute `{attribute}`")]
    UnknownAttribute {
        resource: String,
        kind: String,
        attribute: String,
    },
    /// A parameter has no value, a value of the wrong type or a value it does not allow.
    #[error("parameter `{name}`: {message}")]
    Parameter { name: String, message: String },
    /// A feature that cannot exist without a real AWS account.
    #[error("{0} is not supported by the local stack")]
    Unsupported(String),
    /// Anything else that makes the template invalid.
    #[error("{0}")]
    Invalid(String),
    /// An error inside a named template element.
    #[error("{at}")]
    At {
        at: String,
        #[source]
        source: Box<TemplateError>,
    },
}

impl TemplateError {
    /// This error and its causes, joined by `": "`.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub(crate) fn at(self, at: impl Into<String>) -> Self {
        Self::At {
            at: at.into(),
            source: Box::new(self),
        }
    }
}

pub(crate) trait ResultExt<T> {
    /// Says in which template element an error happened.
    fn at(self, at: impl FnOnce() -> String) -> Result<T, TemplateError>;
}

impl<T> ResultExt<T> for Result<T, TemplateError> {
    fn at(self, at: impl FnOnce() -> String) -> Result<T, TemplateError> {
        self.map_err(|e| e.at(at()))
    }
}
