//! Print the rule catalogue (`cargo run -p cerverus-check --example rules_md > docs/rules.md`).
fn main() {
    print!("{}", cerverus_check::rules::markdown());
}
