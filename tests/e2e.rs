//! End-to-end tests: the built `blockseal` binary driven like a user through the seed scenarios
//! of SEMANTICS.md §19, the edge cases of §20, bad input, a crash in the middle of a re-key,
//! export destinations that must be refused or must leave nothing when interrupted, and a crash
//! or an I/O error injected at every durable step of every state-changing command.

mod support;

mod api;
mod bad_input;
mod cli_globals;
mod concurrency;
mod console;
mod crash;
mod doc_examples;
mod doctor;
mod edge_cases;
mod export_paths;
mod failpoints;
mod fuse;
mod home_guard;
mod import_tasks;
mod kms_datakeys;
mod launch_params;
mod permissions;
mod scenarios;
mod sharing;
mod soak;
mod tags;
