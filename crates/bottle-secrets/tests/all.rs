//! The integration tests of bottle-secrets (one binary, modules in suite/).

mod suite;
