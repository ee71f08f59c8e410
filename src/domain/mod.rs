//! What the figures mean: plain types and the rules of the domain — money in integer đồng, unit
//! ids and plan years, milestones, the ledger of a run, rates, the projection, the reallocation
//! proposal and who is told what. Pure: no I/O, no crate that talks to the outside.

pub mod address;
pub mod answer;
pub mod decide;
pub mod id;
pub mod issue;
pub mod ledger;
pub mod link;
pub mod message;
pub mod money;
pub mod projection;
pub mod rates;
pub mod reallocation;
pub mod rule;
pub mod schedule;
