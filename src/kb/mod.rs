//! The knowledge base: authoring format (native), the KB file, search and answers.

pub mod answer;
pub mod codes;
pub mod format;
pub mod lexical;
pub mod search;

#[cfg(feature = "cli")]
pub mod build;
#[cfg(feature = "cli")]
pub mod sections;
#[cfg(feature = "cli")]
pub mod source;

pub use answer::{Answer, AnswerItem, Label};
pub use format::{Article, Kb, KbMeta, Thresholds, UnitKind};
