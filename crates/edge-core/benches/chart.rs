//! Render time of a Discord price chart (series in, PNG bytes out):
//! `cargo bench -p edge-core --features chart --bench chart`.
//!
//! The budget is 20 ms of CPU per chart in the worker; wasm in workerd runs this code
//! roughly 1.5–2× slower than native.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_core::chat::chart::{ChartSpec, Theme, render};

fn series(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 180.0 + (i as f64 / 7.0).sin() * 6.0 + (i as f64 / 31.0).cos() * 3.0)
        .collect()
}

fn chart(c: &mut Criterion) {
    let spec = ChartSpec {
        symbol: "AAPL",
        range: "1d",
        theme: Theme::Dark,
    };
    for n in [2usize, 78, 390, 2000] {
        let closes = series(n);
        c.bench_function(&format!("chart/render {n} closes (dark)"), |b| {
            b.iter(|| render(black_box(&closes), black_box(&spec)))
        });
    }
    let closes = series(390);
    let light = ChartSpec {
        theme: Theme::Light,
        ..spec
    };
    c.bench_function("chart/render 390 closes (light)", |b| {
        b.iter(|| render(black_box(&closes), black_box(&light)))
    });
}

criterion_group!(benches, chart);
criterion_main!(benches);
