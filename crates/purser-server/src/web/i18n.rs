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
    // Live tasks.
    ("Payment asked — waiting for you", "代理请求付款——等待您确认"),
    ("You approved the payment", "您批准了这笔付款"),
    ("Payment approved within your mandate", "在您的授权范围内已批准付款"),
    ("No reason was recorded.", "没有记录原因。"),
    ("Payment declined", "付款被拒绝"),
    ("{} of the hold was released.", "冻结中的 {} 已解除。"),
    ("The merchant charged the payment", "商户已扣款"),
    ("Back to your wallet.", "退回您的钱包。"),
    ("Back to the agent's card.", "退回代理的专属卡。"),
    ("Refunded", "已退款"),
    ("Payment cancelled; the hold was released", "付款已取消，冻结已解除"),
    ("Payment expired; nothing was charged", "付款已过期，未扣任何款项"),
    ("Payment failed; nothing was charged", "付款失败，未扣任何款项"),
    ("You declined the payment", "您拒绝了这笔付款"),
    ("Another merchant tried to use the payment; Purser refused", "其他商户试图使用这笔付款，Purser 已拒绝"),
    ("A scheduled charge is coming up", "一笔定期扣款即将到期"),
    ("Due {}.", "到期时间：{}。"),
    ("Something else happened", "发生了其他事件"),
    ("The agent was frozen.", "代理已被冻结。"),
    ("The mandate was revoked.", "授权已被撤销。"),
    ("The mandate is no longer active.", "授权已不再有效。"),
    ("The merchant cancelled it.", "商户取消了这笔付款。"),
    ("Nobody answered in time.", "没有人及时确认。"),
    ("The merchant did not use it in time.", "商户未在有效期内使用。"),
    ("Purser was interrupted while deciding.", "Purser 在决策过程中被中断。"),
    ("The paid call did not need it.", "付费调用未用到这笔款项。"),
    ("Purser ended it.", "Purser 结束了这笔付款。"),
    ("just now", "刚刚"),
    ("1 minute ago", "1 分钟前"),
    ("{} minutes ago", "{} 分钟前"),
    ("1 hour ago", "1 小时前"),
    ("{} hours ago", "{} 小时前"),
    ("{} days ago", "{} 天前"),
    ("What your agents are doing, newest activity first. Open a task to watch it live.", "您的代理正在做什么，最新动态在前。打开任务即可实时查看。"),
    ("None of your agents has asked to pay for anything yet.", "您的代理还没有发起过任何付款请求。"),
    ("Deciding", "正在决策"),
    ("nothing paid yet", "尚未付款"),
    ("{} paid", "已付 {}"),
    ("{} held", "冻结 {}"),
    ("live", "进行中"),
    ("idle", "空闲"),
    ("Task", "任务"),
    ("Last activity", "最近活动"),
    ("Task not found", "找不到任务"),
    ("None of your agents has a task with this id. Open it from the list of your tasks.", "您的代理没有这个编号的任务。请从任务列表中打开。"),
    ("← All tasks", "← 全部任务"),
    ("Summary", "概要"),
    ("By {}", "执行者：{}"),
    ("Timeline", "时间线"),
    ("New events appear here as they happen.", "新事件发生时会显示在这里。"),
    ("Reload the page to see new events.", "刷新页面即可看到新事件。"),
    ("Task {}", "任务 {}"),
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
