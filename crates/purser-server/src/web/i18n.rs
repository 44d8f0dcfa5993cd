//! The web wallet's languages: English and Simplified Chinese.
//!
//! The language is, in order: `?lang=en|zh` on any page (which also sets the `purser-lang`
//! cookie, so the choice sticks), the `purser-lang` cookie, the browser's `Accept-Language`
//! (the first tag, by q-value, that is English or Chinese), English.
//!
//! Strings are written in English in the code and looked up in [`ZH`] by that English text;
//! a string missing from the table shows in English (a test checks that every string the
//! pages use has a translation). Amounts use the wallet's own formatting (`¥1,299.00`), which
//! reads the same in both languages; times are shown in UTC as `2026-11-21 20:30 UTC`.

use axum::http::HeaderMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// The `lang` attribute of the page.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-Hans",
        }
    }

    /// The value of `?lang=` and of the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s == "en" || s.starts_with("en-") {
            Some(Lang::En)
        } else if s == "zh" || s.starts_with("zh-") {
            Some(Lang::Zh)
        } else {
            None
        }
    }

    /// The first supported language of an `Accept-Language` header, by q-value.
    pub fn from_accept_language(headers: &HeaderMap) -> Option<Lang> {
        let v = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)?
            .to_str()
            .ok()?;
        let mut best: Option<(u16, Lang)> = None;
        for part in v.split(',').take(20) {
            let mut bits = part.split(';');
            let tag = bits.next().unwrap_or_default();
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u16;
            if let Some(l) = Lang::parse(tag) {
                if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, l));
                }
            }
        }
        best.map(|(_, l)| l)
    }

    /// `text` in this language.
    pub fn t(self, text: &'static str) -> &'static str {
        match self {
            Lang::En => text,
            Lang::Zh => ZH
                .iter()
                .find(|(en, _)| *en == text)
                .map_or(text, |(_, zh)| zh),
        }
    }

    /// `text` in this language with each `{}` replaced by the next of `args` (already escaped
    /// when the result is HTML).
    pub fn f(self, text: &'static str, args: &[&str]) -> String {
        let mut out = String::new();
        let mut args = args.iter();
        let mut rest = self.t(text);
        while let Some(i) = rest.find("{}") {
            out.push_str(&rest[..i]);
            out.push_str(args.next().copied().unwrap_or_default());
            rest = &rest[i + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// English → Simplified Chinese.
pub const ZH: &[(&str, &str)] = &[
    // The shell.
    ("Sign out", "退出登录"),
    ("Language", "语言"),
    ("Your wallet", "我的钱包"),
    ("Wallet sections", "钱包栏目"),
    ("Home", "首页"),
    ("Agents", "代理"),
    ("Mandates", "授权"),
    ("Live tasks", "实时任务"),
    ("Bills", "账单"),
    // Sign-in.
    ("Sign in", "登录"),
    ("Sign in to Purser", "登录 Purser"),
    ("Your Purser user id", "您的 Purser 用户 ID"),
    ("It starts with usr_; the operator gave it to you with your setup token.", "以 usr_ 开头；运营方在给您设置令牌时一并提供。"),
    ("Sign in with a passkey", "使用通行密钥登录"),
    ("Or sign in with your PIN", "或使用 PIN 码登录"),
    ("Your PIN", "您的 PIN 码"),
    ("Sign in with PIN", "使用 PIN 码登录"),
    ("First time here?", "第一次使用？"),
    ("Set up this browser", "设置此浏览器"),
    ("Passkeys need JavaScript; the PIN works without it.", "通行密钥需要 JavaScript；PIN 码无需 JavaScript。"),
    ("Passkeys need a name, not a number, in the address: open {} instead.", "通行密钥需要使用域名而非 IP 地址访问：请改为打开 {}。"),
    ("The passkey prompt was closed or timed out. Try again, or use your PIN.", "通行密钥提示已关闭或超时。请重试，或使用 PIN 码。"),
    ("This browser cannot use passkeys. Use your PIN instead.", "此浏览器无法使用通行密钥。请改用 PIN 码。"),
    ("The form was too old or sent from another page. It has been reloaded: try again.", "表单已过期或来自其他页面，已重新加载：请重试。"),
    // Sign-up.
    ("Set up the web wallet", "设置网页钱包"),
    ("Your operator created your Purser account and gave you a one-time setup token (pss_…). Paste it here — or an API token you already use (pst_…, with the tokens scope) — and create a passkey on this device.", "运营方已为您创建 Purser 账户，并给了您一个一次性设置令牌（pss_…）。请在此粘贴该令牌——或您已在使用的 API 令牌（pst_…，需具有 tokens 权限）——然后在此设备上创建通行密钥。"),
    ("Setup token or API token", "设置令牌或 API 令牌"),
    ("Name for this passkey", "通行密钥名称"),
    ("for example: my phone", "例如：我的手机"),
    ("Create a passkey and sign in", "创建通行密钥并登录"),
    ("Your API token (shown once)", "您的 API 令牌（仅显示一次）"),
    ("Your setup token became this API token for the purser command line. Copy it somewhere safe now: Purser keeps only its hash and cannot show it again.", "您的设置令牌已转换为此 API 令牌，供 purser 命令行使用。请立即将其保存在安全的地方：Purser 只保存其哈希值，无法再次显示。"),
    ("Continue to your wallet", "前往我的钱包"),
    ("Already set up?", "已经设置过？"),
    // Home.
    ("Hello, {}", "您好，{}"),
    ("Waiting for your answer", "等待您确认"),
    ("Nothing is waiting for your answer.", "没有等待您确认的付款。"),
    ("{} at {}", "{}，收款方 {}"),
    ("asked by {}; the link expires {}", "由 {} 发起；链接将于 {} 过期"),
    ("Review and answer", "查看并确认"),
    ("Balances", "余额"),
    ("Available", "可用"),
    ("Held", "冻结中"),
    ("No money yet: add a card and top up with the purser command line.", "暂无资金：请使用 purser 命令行添加银行卡并充值。"),
    ("Agent cards", "代理专用卡"),
    ("No agent has a card of its own.", "还没有代理拥有专用卡。"),
    ("Balance", "余额"),
    ("active", "使用中"),
    ("closed", "已关闭"),
    ("Agents at work now", "正在工作的代理"),
    ("No agent has done anything for you in the last 30 minutes.", "最近 30 分钟内没有代理为您执行任务。"),
    ("{} — task {}: {} payment requests, last at {}", "{} —— 任务 {}：{} 笔付款请求，最近一次于 {}"),
    ("Agents you allow", "已授权的代理"),
    ("frozen", "已冻结"),
    ("Recent spending", "近期支出"),
    ("No payments yet.", "暂无付款。"),
    ("Date", "日期"),
    ("Merchant", "商户"),
    ("Agent", "代理"),
    ("Amount", "金额"),
    ("Status", "状态"),
    // Confirm.
    ("Confirm a payment", "确认付款"),
    ("Confirm this payment", "确认这笔付款"),
    ("Pay", "付款"),
    ("to", "收款方"),
    ("Items", "商品"),
    ("{} each", "单价 {}"),
    ("Asked by your agent", "由您的代理发起"),
    ("run by {}", "运营方：{}"),
    ("Under your mandate", "依据您的授权"),
    ("In your words:", "您的原话："),
    ("Why you are asked", "为什么需要您确认"),
    ("This link expires at {} ({}).", "此链接将于 {} 过期（{}）。"),
    ("in less than a minute", "不到 1 分钟后"),
    ("in 1 minute", "1 分钟后"),
    ("in {} minutes", "{} 分钟后"),
    ("in about {} hours", "约 {} 小时后"),
    ("If you approve", "如果您批准"),
    ("Purser gives your agent a single-use credential for {} at {}, valid for this merchant only. Nothing is charged until the merchant uses it; the money stays held until then. If you decline, the hold is released and the agent cannot pay.", "Purser 将向您的代理发放一次性凭证，金额上限 {}，仅可在 {} 使用。商户使用凭证前不会扣款，资金在此之前保持冻结。如果您拒绝，冻结将解除，代理无法付款。"),
    ("Answer with your passkey", "使用通行密钥确认"),
    ("Approve {}", "批准 {}"),
    ("Decline", "拒绝"),
    ("Or answer with your PIN", "或使用 PIN 码确认"),
    ("Your Purser PIN", "您的 Purser PIN 码"),
    ("Approved", "已批准"),
    ("Approved — the agent can now pay {}.", "已批准——代理现在可以支付 {}。"),
    ("Declined", "已拒绝"),
    ("Declined — the agent cannot make this payment.", "已拒绝——代理无法进行这笔付款。"),
    ("Already approved", "已经批准"),
    ("You approved this payment of {}. The agent can pay it now; there is nothing more to do.", "您已批准这笔 {} 的付款。代理现在可以付款，您无需再做任何操作。"),
    ("Already declined", "已经拒绝"),
    ("You declined this payment. The agent cannot pay it.", "您已拒绝这笔付款。代理无法支付。"),
    ("This link has expired", "此链接已过期"),
    ("It was open until {}. The payment was not approved in time, so the agent cannot pay it; if you still want it, ask your agent to request it again.", "此链接有效期至 {}。付款未能及时获批，代理无法支付；如果您仍需要，请让代理重新发起请求。"),
    ("This confirmation is closed", "此确认已关闭"),
    ("This payment no longer waits for an answer.", "这笔付款已不再等待确认。"),
    ("This link does not work", "此链接无效"),
    ("This confirmation link is not valid: it may have been copied incompletely. Open the link exactly as your agent or Purser sent it, or ask your agent to request the payment again.", "此确认链接无效：可能复制不完整。请按代理或 Purser 发送的原样打开链接，或让代理重新发起付款请求。"),
    ("Your answer was not recorded", "您的回复未被记录"),
    ("Wrong PIN", "PIN 码错误"),
    ("PIN entry is locked", "PIN 码输入已锁定"),
    ("Set a PIN first", "请先设置 PIN 码"),
    ("That is not a PIN", "这不是有效的 PIN 码"),
    ("Purser could not record your answer", "Purser 无法记录您的回复"),
    ("Go to your wallet", "前往我的钱包"),
    ("Something went wrong", "出现问题"),
    ("Purser could not show this page right now. Reload it in a moment.", "Purser 暂时无法显示此页面。请稍后刷新。"),
    ("Page not found", "页面不存在"),
    // Bills.
    ("Which payments", "筛选付款"),
    ("All agents", "全部代理"),
    ("Mandate", "授权"),
    ("All mandates", "全部授权"),
    ("All merchants", "全部商户"),
    ("From", "开始日期"),
    ("To (inclusive)", "结束日期（含当天）"),
    ("Show the bill", "查看账单"),
    ("Period", "时间段"),
    ("This month", "本月"),
    ("Last 30 days", "最近 30 天"),
    ("All time", "全部时间"),
    ("Write the date as year-month-day, for example 2026-11-01.", "请按“年-月-日”填写日期，例如 2026-11-01。"),
    ("The end date is before the start date.", "结束日期早于开始日期。"),
    ("None of your agents has this id. Pick one from the list.", "您的代理中没有这个 ID。请从列表中选择。"),
    ("None of your mandates has this id. Pick one from the list.", "您的授权中没有这个 ID。请从列表中选择。"),
    ("None of your payments went to a merchant with this id. Pick one from the list.", "您没有向这个 ID 的商户付过款。请从列表中选择。"),
    ("Some filters above need fixing before the bill can be shown.", "请先修正上面的筛选条件，才能显示账单。"),
    ("This period has more than {} payments; the chart counts the newest {}. Choose a shorter period to see the rest.", "此时间段内的付款超过 {} 笔；图表只统计最新的 {} 笔。请选择更短的时间段查看其余付款。"),
    ("Totals", "合计"),
    ("No payments match these filters.", "没有符合筛选条件的付款。"),
    ("Spent", "支出"),
    ("Refunded", "退款"),
    ("Net", "净支出"),
    ("Held, not yet charged", "冻结中，尚未扣款"),
    ("{} payments in {}.", "{} 笔付款，币种 {}。"),
    ("Spent is what merchants charged; net is spent less refunds. Held money is reserved for approved payments the merchant has not charged yet.", "支出是商户已扣取的金额；净支出是支出减去退款。冻结中的资金为已批准、但商户尚未扣款的付款预留。"),
    ("Spending per day", "每日支出"),
    ("Spending per day in {}", "每日支出（{}）"),
    ("From {} to {}: {} spent in all.", "{} 至 {}：共支出 {}。"),
    ("The most on {}: {}.", "支出最多的一天是 {}：{}。"),
    ("The days with spending, as a table", "以表格查看有支出的日期"),
    ("Payments", "付款"),
    ("Download as CSV", "下载 CSV"),
    ("The newest {} of {} payments are listed; the CSV has all of them.", "此处列出最新的 {} 笔（共 {} 笔付款）；CSV 文件包含全部付款。"),
    ("Payments, newest first", "付款（最新的在前）"),
    ("Evidence", "证据"),
    ("Evidence of the payment of {} on {}", "金额 {} 的付款证据（{}）"),
    ("{} refunded", "已退款 {}"),
    ("waiting for you", "等待您确认"),
    ("approved, not yet charged", "已批准，尚未扣款"),
    ("being charged", "正在扣款"),
    ("paid", "已支付"),
    ("refunded", "已退款"),
    ("declined", "已拒绝"),
    ("cancelled", "已取消"),
    ("expired", "已过期"),
    ("failed", "失败"),
    ("in progress", "处理中"),
    ("Payment not found", "找不到这笔付款"),
    ("None of your payments has this id. Open the evidence from your bill.", "您的付款中没有这个 ID。请从账单中打开证据。"),
    ("No evidence yet", "暂无证据"),
    ("This payment is still being decided. Try again in a moment.", "这笔付款仍在处理中。请稍后再试。"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_language_picks_the_page_language() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            if let Ok(v) = v.parse() {
                m.insert(axum::http::header::ACCEPT_LANGUAGE, v);
            }
            Lang::from_accept_language(&m)
        };
        assert_eq!(h("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::Zh));
        assert_eq!(h("en-GB,en;q=0.9"), Some(Lang::En));
        assert_eq!(h("fr-FR, en;q=0.5, zh;q=0.7"), Some(Lang::Zh));
        assert_eq!(h("fr-FR"), None);
        assert_eq!(h("zh;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(h(""), None);
    }

    #[test]
    fn strings_are_looked_up_and_filled() {
        assert_eq!(Lang::Zh.t("Sign out"), "退出登录");
        assert_eq!(Lang::En.t("Sign out"), "Sign out");
        assert_eq!(Lang::Zh.t("not in the table"), "not in the table");
        assert_eq!(Lang::Zh.f("Approve {}", &["¥1.00"]), "批准 ¥1.00");
        assert_eq!(Lang::En.f("{} at {}", &["a", "b"]), "a at b");
        assert_eq!(Lang::En.f("{} at {}", &["a"]), "a at ");
    }

    #[test]
    fn every_translation_keeps_its_placeholders() {
        for (en, zh) in ZH {
            assert_eq!(
                en.matches("{}").count(),
                zh.matches("{}").count(),
                "{en} / {zh}"
            );
            assert_eq!(ZH.iter().filter(|(e, _)| e == en).count(), 1, "{en} twice");
        }
    }
}
