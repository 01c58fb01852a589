mod builtin;
mod fixture_inputs;
mod gitleaks_compat;
