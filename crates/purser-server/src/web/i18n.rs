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
    // Sign-in and security (/account).
    ("Sign-in and security", "登录与安全"),
    ("The passkey was removed: it can no longer sign in or approve payments.", "通行密钥已删除：它不能再用于登录或批准付款。"),
    ("Your passkeys", "您的通行密钥"),
    ("You have no passkeys.", "您没有通行密钥。"),
    ("last used {}", "上次使用于 {}"),
    ("never used", "从未使用"),
    ("added {}", "添加于 {}"),
    ("Remove the passkey {}", "删除通行密钥 {}"),
    ("Remove", "删除"),
    ("A lost or stolen device? Remove its passkey here, then sign out everywhere.", "设备丢失或被盗？请在此删除它的通行密钥，然后退出所有登录。"),
    ("You have no PIN. Set one with the purser command line: purser pin set.", "您还没有 PIN 码。请用 purser 命令行设置：purser pin set。"),
    ("Your PIN is set. PIN entry is locked until {} after too many wrong PINs.", "您已设置 PIN 码。由于错误次数过多，PIN 码输入已锁定至 {}。"),
    ("Your PIN is set. Change it with: purser pin set.", "您已设置 PIN 码。修改请用：purser pin set。"),
    ("PIN", "PIN 码"),
    ("Where you are signed in", "登录位置"),
    ("with a passkey", "使用通行密钥"),
    ("with your PIN", "使用 PIN 码"),
    ("when this browser was set up", "在设置此浏览器时"),
    ("Signed in {} {}; ends {}", "{}登录于 {}；{} 失效"),
    ("Sign out everywhere", "退出所有登录"),
    ("Every browser signed in as you, this one included, is signed out at once, and none of them counts as yours for PIN locks until you sign in on it again.", "所有以您身份登录的浏览器（包括此浏览器）都会立即退出登录；在您重新登录之前，它们在 PIN 锁定时都不再算作您的浏览器。"),
    ("This is your only passkey and you have no PIN: removing it would lock you out. Set a PIN first (purser pin set), or add another passkey.", "这是您唯一的通行密钥，而且您没有 PIN 码：删除后您将无法登录。请先设置 PIN 码（purser pin set），或添加另一个通行密钥。"),
    ("That passkey is not one of yours, or it was already removed.", "该通行密钥不属于您，或已被删除。"),
    // Sign-in.
    ("Sign in", "登录"),
    ("Sign in to Purser", "登录 Purser"),
    ("Your Purser user id", "您的 Purser 用户 ID"),
    ("It starts with usr_; the operator gave it to you with your setup token.", "以 usr_ 开头；运营方在给您设置令牌时一并提供。"),
    ("Sign in with a passkey", "使用通行密钥登录"),
    ("Or sign in with your PIN", "或使用 PIN 码登录"),
    ("Your PIN", "您的 PIN 码"),
    ("Sign in with PIN", "使用 PIN 码登录"),
    ("Too many PIN sign-ins came from your network. Wait {} seconds and try again.", "来自您网络的 PIN 码登录尝试过多。请等待 {} 秒后再试。"),
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
    // Agents.
    ("Manage your agents", "管理您的代理"),
    ("Type an amount, such as 100 or 100.50.", "请输入金额，例如 100 或 100.50。"),
    ("That is not an amount: type digits with at most one decimal point, such as 100 or 100.50.", "这不是有效的金额：请输入数字，最多一个小数点，例如 100 或 100.50。"),
    ("{} has no smaller unit: type a whole number.", "{} 没有更小的单位：请输入整数。"),
    ("{} has {} decimal places: type at most that many.", "{} 最多有 {} 位小数：请不要超过这个位数。"),
    ("Type an amount above zero.", "请输入大于零的金额。"),
    ("Type the amount without a minus sign; the button says which way it goes.", "请输入不带负号的金额；资金流向由按钮决定。"),
    ("This card holds {}, not {}: type an amount in {}.", "此卡使用 {}，而非 {}：请输入以 {} 计的金额。"),
    ("That amount is too large.", "金额过大。"),
    ("{} may now act for you, within your mandates.", "{} 现在可以在您的授权范围内代您行事。"),
    ("You declined {}: it cannot act for you.", "您已拒绝 {}：它不能代您行事。"),
    ("{} is frozen: every request from it is refused until you unfreeze it.", "{} 已冻结：在您解冻之前，它的每个请求都会被拒绝。"),
    ("{} is unfrozen and may act for you again.", "{} 已解冻，可以再次代您行事。"),
    ("{} no longer acts for you: its binding and its mandates have ended.", "{} 不再代您行事：它的绑定和授权均已结束。"),
    ("{} no longer acts for you, but its own card could not be closed: it still holds {}. Withdraw the money to your wallet below, or try closing the card again in a moment.", "{} 不再代您行事，但它的专属卡未能关闭：卡上仍有 {}。请在下方把钱提回您的钱包，或稍后再试一次关闭这张卡。"),
    ("Cards of agents that no longer act for you", "已不再代您行事的代理的卡"),
    ("Revoked", "已撤销"),
    ("No longer acting for you", "不再代您行事"),
    ("It can no longer act for you, but its own card is still open: close it to return its balance to your wallet, or withdraw the money yourself.", "它已不能代您行事，但它的专属卡仍未关闭：关闭这张卡即可把余额退回您的钱包，您也可以自己把钱提出。"),
    ("It can no longer act for you, and its card is closed, but the card still holds money: withdraw it to your wallet.", "它已不能代您行事，卡也已关闭，但卡上仍有钱：请把钱提回您的钱包。"),
    ("Close the card and return its balance", "关闭这张卡并退回余额"),
    ("Saved: what {} may pay from.", "已保存：{} 的付款来源。"),
    ("{} has its own card now. Top it up from your wallet below.", "{} 现在有了专用卡。请在下方从钱包为其充值。"),
    ("Moved into {}’s card; it now holds {}.", "已转入 {} 的专用卡；卡内现有 {}。"),
    ("Moved back to your wallet from {}’s card; it now holds {}.", "已从 {} 的专用卡转回钱包；卡内现有 {}。"),
    ("The agent", "该代理"),
    ("Asking to act for you", "请求代您行事"),
    ("No agent is asking to act for you.", "目前没有代理请求代您行事。"),
    ("It says it will:", "它说明将会："),
    ("Asked {}", "请求时间：{}"),
    ("Your agents", "您的代理"),
    ("No agent acts for you yet. When one asks, approve it above.", "还没有代理代您行事。有代理请求时，请在上方批准。"),
    ("Frozen", "已冻结"),
    ("Active", "生效中"),
    ("acting for you since {}", "自 {} 起代您行事"),
    ("Its developer revoked this agent: it can no longer act for anyone.", "开发者已撤销此代理：它不能再代任何人行事。"),
    ("Unfreeze {}", "解冻 {}"),
    ("Frozen: every request from this agent is refused until you unfreeze it.", "已冻结：在您解冻之前，此代理的每个请求都会被拒绝。"),
    ("Freeze {}", "冻结 {}"),
    ("Freezing takes effect at once: every request from this agent is refused until you unfreeze it, and payments it has not completed are cancelled.", "冻结立即生效：在您解冻之前，此代理的每个请求都会被拒绝，其未完成的付款将被取消。"),
    ("What it may do", "它可以做什么"),
    ("No active mandate: it cannot pay for anything until you give it one.", "没有生效的授权：在您给予授权之前，它不能支付任何款项。"),
    ("It may pay only within these mandates:", "它只能在以下授权范围内付款："),
    ("See and change mandates", "查看和修改授权"),
    ("Your wallet balance", "您的钱包余额"),
    ("Your wallet balance, or its own card when it asks", "您的钱包余额，或在它要求时使用它的专用卡"),
    ("Only its own card ({})", "仅限它的专用卡（{}）"),
    ("Only your card {} ending {}", "仅限您的 {} 卡（尾号 {}）"),
    ("It pays from", "付款来源"),
    ("Save", "保存"),
    ("Its own card", "专用卡"),
    ("A card of its own holds money only this agent can spend, and it can never spend more than the card holds. You move money in and out.", "专用卡中的资金只有此代理可以使用，且它的支出永远不会超过卡内余额。资金由您转入和转出。"),
    ("Currency", "币种"),
    ("Create a card for {}", "为 {} 创建专用卡"),
    ("Card balance ({})", "卡内余额（{}）"),
    ("A closed card still holds {}: withdraw it to your wallet.", "一张已关闭的卡内仍有 {}：请将其转回钱包。"),
    ("Revoke {}…", "撤销 {}…"),
    ("Top up from your wallet, in {}", "从钱包充值（{}）"),
    ("Top up", "充值"),
    ("Withdraw to your wallet, in {}", "转回钱包（{}）"),
    ("Withdraw", "转出"),
    ("Revoke {}?", "撤销 {}？"),
    ("Revoking ends this agent’s binding: it can no longer act for you, every mandate you gave it ends, payments it has not completed are cancelled, and its own card is closed with its balance returned to your wallet.", "撤销将结束此代理的绑定：它不能再代您行事，您给它的所有授权都将结束，其未完成的付款将被取消，它的专用卡将被关闭，余额退回您的钱包。"),
    ("This cannot be undone: to let it act for you again, it must ask again and you must approve it.", "此操作无法撤回：若要让它再次代您行事，它必须重新请求，并由您批准。"),
    ("Yes, revoke {}", "是的，撤销 {}"),
    ("No, keep {}", "不，保留 {}"),
    ("Your wallet has {} available, less than {}: nothing was moved.", "您的钱包可用余额为 {}，少于 {}：未转移任何资金。"),
    ("This card holds {}, less than {}: nothing was moved.", "此卡内有 {}，少于 {}：未转移任何资金。"),
    ("This form was already sent with another amount. The page has been reloaded: type the amount again.", "此表单已用另一金额提交过。页面已重新加载：请重新输入金额。"),
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
    // Mandates.
    ("A mandate says what one of your agents may buy for you, how much, and when it asks you first.", "授权说明您的某个代理可以为您购买什么、花多少钱，以及何时需要先询问您。"),
    ("Adjust the proposal", "调整提议"),
    ("Ask me before paying more than ({})", "付款超过此金额前先问我（{}）"),
    ("Asks you", "何时询问您"),
    ("At or below this amount the agent pays without asking you. Empty: it asks you before every payment.", "不超过此金额时代理无需询问即可付款。留空：每笔付款前都会询问您。"),
    ("Budget", "预算"),
    ("Budget in all ({})", "总预算（{}）"),
    ("Choose one of the agents you allow.", "请从您允许的代理中选择一个。"),
    ("Choose how often the agent may pay.", "请选择代理可以多久付款一次。"),
    ("Consent to this mandate", "同意此授权"),
    ("Consent with PIN", "使用 PIN 码同意"),
    ("Consent with my passkey", "使用我的通行密钥同意"),
    ("Consent with your passkey", "使用通行密钥同意"),
    ("Continue to consent", "继续并同意"),
    ("Correct the fields marked below to see the summary again.", "请修正下方标出的字段，以重新查看摘要。"),
    ("Empty: from now.", "留空：从现在开始。"),
    ("Empty: no limit per payment.", "留空：单笔付款不设上限。"),
    ("Ends", "结束"),
    ("Ends on", "结束日期"),
    ("Every year", "每年"),
    ("Daily", "每天"),
    ("Weekly", "每周"),
    ("Monthly", "每月"),
    ("Whenever needed (no schedule)", "需要时（无固定周期）"),
    ("Go to your agents", "前往我的代理"),
    ("How often it may pay", "付款频率"),
    ("In your own words, for example: Buy running shoes under 600 yuan at Trailhead Outfitters, ask me above 300.", "用您自己的话说，例如：Buy running shoes under 600 yuan at Trailhead Outfitters, ask me above 300."),
    ("In your words", "您的原话"),
    ("Limit for one payment ({})", "单笔付款上限（{}）"),
    ("Mandate not found", "找不到此授权"),
    ("Name at most {} categories.", "最多填写 {} 个类别。"),
    ("Name at most {} merchants.", "最多填写 {} 个商户。"),
    ("New mandate", "新建授权"),
    ("No agent is bound to you yet (or every one is frozen). A mandate is given to an agent you allow: approve its request first.", "您还没有绑定任何代理（或全部已冻结）。授权只能给予您允许的代理：请先批准它的绑定请求。"),
    ("No, keep it", "不，保留"),
    ("Not now: it stays a draft, and nothing is allowed, until you consent", "暂不：在您同意之前，它只是草稿，不允许任何付款"),
    ("Nothing is stored or active until you consent.", "在您同意之前，不会保存或生效任何内容。"),
    ("Nothing to revoke", "无需撤销"),
    ("Once revoked, {} can no longer pay with this mandate, and payments under it that are held but not yet taken by the merchant cannot complete. This cannot be undone.", "撤销后，{} 将不能再使用此授权付款；此授权下已冻结但商户尚未收取的付款也无法完成。此操作无法撤回。"),
    ("One a line, with merchant category codes, like: shoe stores (5661). Empty: any category.", "每行一个，附商户类别码，例如：shoe stores (5661)。留空：任何类别。"),
    ("One a line: a name, a website or a Purser merchant id. Empty: any merchant.", "每行一个：名称、网站或 Purser 商户编号。留空：任何商户。"),
    ("Only at these merchants", "仅限这些商户"),
    ("Only in these categories", "仅限这些类别"),
    ("Or consent with your PIN", "或使用 PIN 码同意"),
    ("Per payment", "单笔上限"),
    ("Purser could not find anything to allow in these words. Say what the agent may buy and for how much, like: buy a pair of hiking boots under 800 yuan.", "Purser 无法从这段话中找到可以允许的内容。请说明代理可以买什么、花多少钱，例如：buy a pair of hiking boots under 800 yuan。"),
    ("Purser did not understand {} and left it out. Change the fields below, or start again with other words.", "Purser 没有理解 {}，已将其略去。请修改下方字段，或换一种说法重新开始。"),
    ("Purser did not understand {}, so there is nothing to allow. Say what the agent may buy and for how much, like: buy a pair of hiking boots under 800 yuan.", "Purser 没有理解 {}，因此没有可以允许的内容。请说明代理可以买什么、花多少钱，例如：buy a pair of hiking boots under 800 yuan。"),
    ("Remaining", "剩余"),
    ("Review and consent", "查看并同意"),
    ("Revoke", "撤销"),
    ("Revoke this mandate?", "撤销此授权？"),
    ("Revoked: your agent can no longer pay with that mandate.", "已撤销：您的代理不能再使用该授权付款。"),
    ("Say in a few words what this mandate is for.", "请用几个字说明此授权的用途。"),
    ("Say what the agent may do in 1 to 2,000 characters.", "请用 1 到 2,000 个字符说明代理可以做什么。"),
    ("Show me the proposal", "查看提议"),
    ("Spent so far", "已花费"),
    ("Start again with other words", "换一种说法重新开始"),
    ("Starts on", "开始日期"),
    ("The form was too old", "表单已过期"),
    ("The form was too old or sent from another page. Nothing was changed: open the page again and try again.", "表单已过期或来自其他页面。没有做任何更改：请重新打开页面再试。"),
    ("The form was too old or sent from another page. Nothing was stored: read the summary below, then continue.", "表单已过期或来自其他页面。没有保存任何内容：请阅读下面的摘要，然后继续。"),
    ("This form was already sent with another proposal or agent. Nothing more was stored: read the summary below, then continue.", "这个表单已用另一份提议或另一个代理提交过。没有再保存任何内容：请阅读下面的摘要，然后继续。"),
    ("The last day it can be used (inclusive). Empty: until you revoke it.", "可以使用的最后一天（含当天）。留空：直到您撤销为止。"),
    ("The limit for one payment ({}) is above the whole budget ({}); lower it or raise the budget.", "单笔付款上限（{}）高于总预算（{}）；请降低上限或提高预算。"),
    ("The most the agent may spend under this mandate. Empty: no total limit.", "代理在此授权下最多可以花费的金额。留空：不设总额上限。"),
    ("There is no such mandate among yours. Open it from your list of mandates.", "您的授权中没有这一项。请从授权列表中打开。"),
    ("This mandate is already revoked, expired or used up: no agent can pay with it.", "此授权已被撤销、已过期或已用完：任何代理都不能再用它付款。"),
    ("This mandate is not waiting for consent", "此授权不在等待同意"),
    ("This mandate's amounts are in {}; write the amount in {}.", "此授权的金额以 {} 计；请用 {} 填写金额。"),
    ("Update the summary", "更新摘要"),
    ("What do you want your agent to do?", "您希望代理做什么？"),
    ("What it is for", "用途"),
    ("What it will not be able to do", "它不能做的事"),
    ("What {} will be able to do", "{} 可以做的事"),
    ("Which agent", "哪个代理"),
    ("Write a date like 2026-12-31.", "请按 2026-12-31 的格式填写日期。"),
    ("Write an amount above zero.", "请填写大于零的金额。"),
    ("Write an amount like 600 or 600.00.", "请填写金额，例如 600 或 600.00。"),
    ("Write each category as its name and its merchant category codes, like: shoe stores (5661).", "每个类别请写名称和商户类别码，例如：shoe stores (5661)。"),
    ("Write each merchant on its own line, in at most 200 characters.", "每个商户单独一行，不超过 200 个字符。"),
    ("Yes, revoke it", "是的，撤销"),
    ("You changed the proposal after its summary was made. Read the new summary below, then continue.", "摘要生成后您修改了提议。请阅读下方的新摘要后再继续。"),
    ("You consent to exactly this content; its fingerprint:", "您同意的正是此内容；其指纹："),
    ("You consented: the mandate is active, and your agent can pay within it.", "您已同意：授权已生效，代理可以在其范围内付款。"),
    ("You have not given any agent a mandate yet.", "您还没有给任何代理授权。"),
    ("Your proposal", "您的提议"),
    ("above {}", "超过 {} 时"),
    ("at the end of {}", "{} 结束时"),
    ("before every payment", "每笔付款前"),
    ("consented, not started yet", "已同意，尚未开始"),
    ("expired", "已过期"),
    ("no limit", "不设上限"),
    ("no total limit", "不设总额上限"),
    ("none", "无"),
    ("revoked", "已撤销"),
    ("revoked {}", "已于 {} 撤销"),
    ("unknown", "未知"),
    ("used up", "已用完"),
    ("waiting for your consent", "等待您同意"),
    ("when you revoke it", "直到您撤销"),
    ("your agent", "您的代理"),
    ("{} cannot buy anything but the items named.", "{} 只能购买列出的物品。"),
    ("{} cannot buy from any other merchant.", "{} 不能在其他商户购买。"),
    ("{} cannot buy outside these categories.", "{} 不能购买这些类别以外的东西。"),
    ("{} cannot pay anything without asking you first.", "{} 每笔付款都必须先询问您。"),
    ("{} cannot pay more than {} in one payment.", "{} 单笔付款不能超过 {}。"),
    ("{} cannot pay more than {} without asking you first.", "{} 付款超过 {} 时必须先询问您。"),
    ("{} cannot pay with it after {}.", "{} 在 {} 之后不能再用它付款。"),
    ("{} cannot spend more than {} in all under this mandate.", "{} 在此授权下总共不能花费超过 {}。"),
    ("{} cannot use this mandate once you revoke it.", "您撤销后，{} 就不能再使用此授权。"),
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
    ("A scheduled charge was missed; nothing was charged", "一笔定期扣款已错过，未扣任何款项"),
    ("It was due {}; Purser could not charge it then, and it is too late to charge it now. The next one runs on its own date.", "它应于 {} 扣款；当时 Purser 未能扣款，现在补扣已太迟。下一笔将按其日期扣款。"),
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
