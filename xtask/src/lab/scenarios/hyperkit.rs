//! (in progress)
use super::Scenario;
pub const SCENARIOS: &[Scenario] = &[];
