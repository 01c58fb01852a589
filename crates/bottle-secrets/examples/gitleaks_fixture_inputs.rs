//! Writes the gitleaks-compatibility fixture inputs to `DIR/<case>/` so
//! `bench/scan/record-gitleaks-fixtures.sh` can run the real gitleaks on
//! them. Usage: `cargo run -p bottle-secrets --example gitleaks_fixture_inputs -- DIR`.

#[path = "../tests/suite/fixture_inputs.rs"]
mod fixture_inputs;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| std::io::Error::other("usage: gitleaks_fixture_inputs DIR"))?;
    for case in fixture_inputs::cases() {
        fixture_inputs::write_case(&case, &std::path::Path::new(&dir).join(case.name))?;
        println!("{}", case.name);
    }
    Ok(())
}
