//! The lasuite-meet suite: one test binary, one module per stage (docs/enroll-recipe.md).
//!
//! Non-mutating tests (install, functional) share the run's one deployment of the head;
//! backup and upgrade deploy their own through the contract API, which tears them down.
//! Each test fails with "not written yet" until it is written: a scaffold never passes.
//! Add `mod browser;` where the app's core function is a UI (login, create an object).

mod backup;
mod functional;
mod install;
mod upgrade;
