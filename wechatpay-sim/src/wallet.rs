//! The simulated wallet's HTML: what a buyer sees after scanning the code, opening the H5 link
//! or launching a JSAPI payment. Server-rendered forms, so it works without JS in any test
//! browser (the present simulated provider's page, plus **Fail**).

use crate::ledger::Order;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Simulated WeChat Pay wallet</title><style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem}}\
         .amount{{font-size:2rem;margin:.5rem 0}}button{{font-size:1.1rem;padding:.6rem 1.2rem;margin:0 .5rem .5rem 0}}\
         .state{{color:#555}}</style></head><body>{body}</body></html>"
    )
}

/// `url` as one query-string value (every byte but the unreserved ones percent-encoded).
fn query_value(url: &str) -> String {
    url.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The H5 `redirect_url` to link back to: an http(s) URL only (never `javascript:`).
fn back_url(back: Option<&str>) -> Option<&str> {
    back.filter(|url| url.starts_with("https://") || url.starts_with("http://"))
}

/// "Back to the merchant", to the H5 `redirect_url`.
fn back_link(back: Option<&str>) -> String {
    back_url(back)
        .map(|url| {
            format!(
                "<p><a id=\"back\" href=\"{}\">Back to the merchant</a></p>",
                escape(url)
            )
        })
        .unwrap_or_default()
}

/// The wallet page for `order` at `now`; `back` is the H5 `redirect_url`, if one was given
/// (each action keeps it, so its result page links back too).
pub fn wallet_page(order: &Order, wallet_id: &str, now: i64, back: Option<&str>) -> String {
    let yuan = format!("¥{}.{:02}", order.total / 100, order.total % 100);
    let payable = order.is_payable(now);
    let state = if !payable && order.pay_deadline_ms <= now && order.state.as_str() == "NOTPAY" {
        "EXPIRED"
    } else {
        order.state.as_str()
    };
    let base = format!("/sim/wallet/{}", escape(wallet_id));
    let query = back_url(back)
        .map(|url| format!("?redirect_url={}", query_value(url)))
        .unwrap_or_default();
    let button = |action: &str, label: &str| {
        format!("<form method=\"post\" action=\"{base}/{action}{query}\" style=\"display:inline\"><button id=\"{action}\">{label}</button></form>")
    };
    let actions = if payable {
        [
            button("confirm", "Confirm payment"),
            button("cancel", "Cancel"),
            button("fail", "Fail"),
        ]
        .concat()
    } else {
        "<p id=\"unpayable\">This payment cannot be paid.</p>".to_owned()
    };
    let back = back_link(back);
    page(&format!(
        "<h1>Simulated wallet</h1><p>{desc}</p><p>Merchant payment number <code id=\"out-trade-no\">{no}</code></p>\
         <p class=\"amount\" id=\"amount\">{yuan}</p><p class=\"state\">State: <b id=\"state\">{state}</b></p>{actions}{back}",
        desc = escape(&order.description),
        no = escape(&order.out_trade_no)
    ))
}

/// The page shown after an action or its refusal; `back` as for [`wallet_page`].
pub fn result_page(ok: bool, message: &str, wallet_id: &str, back: Option<&str>) -> String {
    page(&format!(
        "<h1>{head}</h1><p id=\"result\">{msg}</p><p><a href=\"/sim/wallet/{id}\">Back to the payment</a></p>{back}",
        head = if ok { "Done" } else { "Refused" },
        msg = escape(message),
        id = escape(wallet_id),
        back = back_link(back)
    ))
}
