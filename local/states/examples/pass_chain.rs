//! Measures the interpreter's transition rate on a chain of Pass states.
//!
//! `cargo run --release -p local-states --example pass_chain -- 10000`

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), local_states::StatesError> {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let report = local_states::run_pass_chain(n).await?;
    println!(
        "{} Pass transitions in {:.3} s: {:.0} transitions/s",
        report.transitions,
        report.elapsed.as_secs_f64(),
        report.per_second()
    );
    Ok(())
}
