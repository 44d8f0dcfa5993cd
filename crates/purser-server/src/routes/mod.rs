pub mod agents;
pub mod keys;
pub mod ledger;
pub mod ledger_dto;
pub mod mandates;
pub mod system;
pub mod users;
pub mod wallet;
