//! Any tool call a provider could make (name, arguments, streamed pieces cut anywhere): the
//! parser never panics and either accepts arguments within the desk's limits or gives an
//! error; pieces cut anywhere put together the same call.
#![no_main]
use edge_core::chat::support::{MAX_HITS, MAX_QUERY_CHARS};
use edge_core::chat::tools::{
    CallAccumulator, CallDelta, ToolCall, ToolRequest, parse_call, valid_ticket_id,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &str, u16)| {
    let (which, arguments, cut) = input;
    let names = [
        "search_knowledge_base",
        "create_ticket",
        "get_ticket",
        "update_ticket",
        "x",
    ];
    let name = names[usize::from(which) % names.len()];
    let call = ToolCall {
        id: "c".into(),
        name: name.into(),
        arguments: arguments.into(),
    };
    match parse_call(&call) {
        Ok(ToolRequest::Search(q)) => {
            assert!(!q.text.is_empty() && q.text.chars().count() <= MAX_QUERY_CHARS);
            assert!((1..=MAX_HITS).contains(&q.limit));
        }
        Ok(ToolRequest::GetTicket { id } | ToolRequest::UpdateTicket { id, .. }) => {
            assert!(valid_ticket_id(&id));
        }
        Ok(ToolRequest::CreateTicket(t)) => assert!(!t.subject.is_empty()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let at = arguments
        .char_indices()
        .map(|(i, _)| i)
        .nth(usize::from(cut) % (arguments.chars().count() + 1))
        .unwrap_or(arguments.len());
    let whole = [(Some(name), arguments)];
    let split = [(Some(name), &arguments[..at]), (None, &arguments[at..])];
    let mut results = Vec::new();
    for pieces in [&whole[..], &split[..]] {
        let mut acc = CallAccumulator::new();
        let mut ok = true;
        for (n, a) in pieces {
            let d = CallDelta {
                index: 0,
                id: None,
                name: n.map(str::to_owned),
                arguments: Some((*a).to_owned()),
            };
            ok &= acc.push(&d).is_ok();
        }
        results.push(ok.then(|| acc.finish()));
    }
    assert_eq!(results[0], results[1]);
});
