//! Reads a SAM `template.yaml` and resolves it into the [`Model`] the local
//! stack provisions and runs.
//!
//! Loading happens in two steps. [`Template::parse`] (or [`Template::from_file`])
//! reads the YAML, turns short-form tags (`!Ref`, `!Sub`, ...) into the long JSON
//! form (`{"Fn::Sub": ...}`), applies SAM `Globals` and adds the resources SAM
//! creates implicitly (`ServerlessHttpApi`, `<Function>Role`).
//! [`Template::resolve`] then evaluates parameters, conditions and intrinsic
//! functions for one stack and fills the [`Model`]. Values only known once
//! resources exist (a secret's ARN with its random suffix, a queue's real URL)
//! come in through [`PhysicalIds`], so provisioning resolves, creates, records
//! and resolves again.

mod build;
mod document;
mod error;
pub mod model;
mod resolve;
pub mod schedule;
pub mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::TemplateError;
pub use model::*;
pub use schedule::ScheduleExpression;

/// The stack-wide values resolution needs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `AWS::StackName`, and the prefix of generated physical names.
    pub stack_name: String,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account_id: String,
    /// Parameter values that replace the template's defaults.
    pub parameter_overrides: BTreeMap<String, String>,
    /// Base URL queue URLs start with, e.g. `http://127.0.0.1:4566`.
    pub sqs_endpoint: String,
}

impl Default for LoadOptions {
    /// Stack `local` in `us-east-1`, account `123456789012` (the emulator's
    /// default account), queues under `http://127.0.0.1:4566`.
    fn default() -> Self {
        Self {
            stack_name: "local".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            parameter_overrides: BTreeMap::new(),
            sqs_endpoint: "http://127.0.0.1:4566".into(),
        }
    }
}

/// What one resource turned out to be once it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhysicalId {
    /// The value `Ref` returns (replaces the computed one).
    pub reference: String,
    /// `Fn::GetAtt` values (each replaces the computed attribute of that name).
    pub attributes: BTreeMap<String, String>,
}

/// Physical ids recorded during provisioning, by logical id.
pub type PhysicalIds = BTreeMap<String, PhysicalId>;

/// A parsed template: long JSON form, `Globals` applied, implicit resources added.
#[derive(Debug, Clone)]
pub struct Template {
    base_dir: PathBuf,
    doc: document::Document,
}

impl Template {
    /// Reads and parses a template file; `DefinitionUri` and other relative
    /// paths are then taken relative to the file's directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let path = path.as_ref();
        let yaml = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&yaml, base_dir)
    }

    /// Parses template text; relative paths in it are taken relative to `base_dir`.
    pub fn parse(yaml: &str, base_dir: impl Into<PathBuf>) -> Result<Self, TemplateError> {
        Ok(Self {
            base_dir: base_dir.into(),
            doc: document::parse(yaml)?,
        })
    }

    /// The directory relative paths in the template start from.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The whole template in long JSON form (before `Globals` were applied).
    pub fn raw(&self) -> &serde_json::Value {
        &self.doc.raw
    }

    /// Logical ids and types of all resources, in template order, including
    /// the implicit ones SAM adds.
    pub fn resources(&self) -> Vec<(&str, &str)> {
        self.doc
            .order
            .iter()
            .filter_map(|id| {
                self.doc
                    .resources
                    .get(id)
                    .map(|r| (id.as_str(), r.kind.as_str()))
            })
            .collect()
    }

    /// Resolves the template for one stack.
    pub fn resolve(
        &self,
        opts: &LoadOptions,
        physical: &PhysicalIds,
    ) -> Result<Model, TemplateError> {
        let resolver = resolve::Resolver::new(&self.doc, opts, physical)?;
        build::build(&resolver, &self.base_dir)
    }
}
