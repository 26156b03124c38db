//! The simulated wallet's HTML: what a buyer sees after scanning the code or being redirected.
//! Plain server-rendered HTML with forms, so it works without JS and in any test browser.

use super::{TradeState, Transaction};

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem}}\
         .amount{{font-size:2rem;margin:.5rem 0}}button{{font-size:1.1rem;padding:.6rem 1.2rem;margin-right:.5rem}}\
         .state{{color:#555}}</style></head><body>{body}</body></html>",
        title = escape(title)
    )
}

/// The wallet page for a transaction, at `now`.
pub fn wallet_page(tx: &Transaction, now: i64) -> String {
    let yuan = format!("¥{}.{:02}", tx.amount / 100, tx.amount % 100);
    let expired = now >= tx.expires_at;
    let open = matches!(tx.trade_state, TradeState::NotPay | TradeState::UserPaying);
    let payable = open && !expired;
    let state = if open && expired {
        "EXPIRED"
    } else {
        tx.trade_state.as_str()
    };
    let base = format!("/sim/wallet/{}", escape(&tx.prepay_id));
    let actions = if payable {
        format!(
            "<form method=\"post\" action=\"{base}/confirm\" style=\"display:inline\"><button id=\"confirm\">Confirm payment</button></form>\
             <form method=\"post\" action=\"{base}/cancel\" style=\"display:inline\"><button id=\"cancel\">Cancel</button></form>"
        )
    } else {
        "<p id=\"unpayable\">This payment cannot be paid.</p>".to_owned()
    };
    page(
        "Simulated wallet",
        &format!(
            "<h1>Simulated wallet</h1><p>Merchant payment number <code id=\"out-trade-no\">{no}</code></p>\
             <p class=\"amount\" id=\"amount\">{yuan}</p><p class=\"state\">State: <b id=\"state\">{state}</b></p>{actions}",
            no = escape(&tx.out_trade_no)
        ),
    )
}

/// The page shown after an action (or its refusal).
pub fn result_page(ok: bool, message: &str, prepay_id: &str) -> String {
    page(
        "Simulated wallet",
        &format!(
            "<h1>{head}</h1><p id=\"result\">{msg}</p><p><a href=\"/sim/wallet/{id}\">Back to the payment</a></p>",
            head = if ok { "Done" } else { "Refused" },
            msg = escape(message),
            id = escape(prepay_id)
        ),
    )
}
