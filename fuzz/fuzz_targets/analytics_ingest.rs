//! Any ingest body and any query string: parsing never panics, every accepted event folds
//! into cells, and a batch report accounts for every item.
#![no_main]
use edge_core::analytics::cell::Cells;
use edge_core::analytics::ingest::{BatchReport, Ingest};
use edge_core::analytics::query::Query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], Vec<(String, String)>, u64)| {
    let (body, pairs, now) = input;
    let now = now % 4_000_000_000_000;
    if let Ok(ingest) = Ingest::parse(body, now) {
        let mut cells = Cells::default();
        for e in ingest.accepted() {
            assert!(cells.add(e, now).is_ok(), "validated events always count somewhere");
        }
        if let Ingest::Batch(items) = &ingest {
            let report = BatchReport::new(items);
            assert_eq!(report.accepted + report.rejected, items.len());
        }
    }
    if let Ok(q) = Query::parse(&pairs, now) {
        assert!(q.from_ms < q.to_ms);
    }
});
