pub mod ledger;
pub mod ledger_dto;
pub mod system;
