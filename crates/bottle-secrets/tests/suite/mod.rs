mod builtin;
mod dlp;
mod fixture_inputs;
mod gitleaks_compat;
mod history;

mod profile;
mod report;
mod stream;
