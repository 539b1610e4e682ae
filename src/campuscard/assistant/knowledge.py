"""The Card Center's starting knowledge base (SUP-1), written in our own words from the two seed documents
and SPEC.md. ``assistant.services.knowledge_base_seed`` copies it into an institution's entries once; from
then on the rows are the operators' to edit in the back office. Numbers marked "our default" in SPEC.md
are written as such here too.

Each entry: slug, Chinese title, English title, Chinese answer, English answer, extra keywords (words holders
use for the topic that the answer itself may not contain), and the portal page the topic lives on.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

EXAMPLE_SETS = sorted((Path(__file__).parent / "examples").glob("*.json"))

ENTRIES: list[tuple[str, str, str, str, str, str, str]] = [
    ("card-overview", "校园卡有哪些用途", "What the campus card does",
     "校园卡是你在学校里的身份凭证，同时也是一张支付卡：在食堂、超市、文印店等处消费，刷卡进出教学楼、宿舍和实验室，"
     "借阅图书、预约教室和座位、考试签到、租借器材，绑定后还能乘坐市区公交。它既有手机上的虚拟卡（NFC 或动态二维码），"
     "也有实体卡，两者共用一个钱包余额。",
     "The campus card is your identity on campus and a payment card in one. You pay with it in canteens, "
     "supermarkets and print shops, open teaching buildings, dormitories and labs, borrow library books, book "
     "classrooms and seats, check in to exams and rent equipment; once bound it also rides the city buses. It "
     "comes as a virtual card on your phone (NFC or a dynamic QR code) and as a physical card, sharing one wallet.",
     "功能 作用 用处 介绍 一卡通 身份 证件 虚拟卡 实体卡 usage uses function features purpose introduction "
     "identity id what can do",
     "/"),
    ("eligibility", "谁可以申请移动校园卡、什么时候申请", "Who can apply for the mobile card, and when",
     "在本校正式注册的全日制学生都可以在线申请移动校园卡，包括本科生、研究生和交换生。非全日制或未注册的申请会被拒绝，"
     "并说明原因。教职工不走学生申请流程，由人事系统为其办理。新生最好在入学前约两周提交申请，开学前后系统最繁忙。",
     "Every full-time student registered with the university can apply online for the mobile campus card: "
     "undergraduates, graduate students and exchange students. Applications from people who are not full-time "
     "registered students are refused with the reason. Staff do not use the student application: their card "
     "comes through the HR (personnel) system. New students should apply about two weeks before enrolment, "
     "because the system is busiest at the start of term.",
     "资格 条件 对象 本科 研究生 硕士 博士 交换生 全日制 非全日制 在职 教工 老师 员工 职工 人事处 新生 入学 报到 开学 时间 "
     "eligible eligibility who qualify undergraduate postgraduate graduate phd master exchange full-time "
     "part-time staff teacher faculty employee hr freshman freshmen newcomer enrolment enrollment deadline",
     "/apply/"),
    ("application-materials", "申请需要准备的材料", "Documents you need to apply",
     "申请前请准备好：有效期内的身份证件原件；电子版学籍证明（在教务系统中下载即可，不需要纸质盖章件）；一个本人实名登记的手机号，"
     "用于接收短信验证码。港澳台学生和国际学生还需上传：往来内地通行证或台湾居民居住证等证件、临时住宿登记表复印件，"
     "以及国际学生服务中心开具的认证函。",
     "Have these ready before you start: a valid identity document; the electronic proof of student status, "
     "downloaded from the registrar's (academic affairs) system, no stamped paper copy needed; and a mobile "
     "number registered in your own name, which receives a one-time SMS code. Students from Hong Kong, Macau or "
     "Taiwan and international students also upload their travel or residence permit, a copy of the temporary "
     "accommodation registration form, and the certification letter of the International Student Service Center.",
     "材料 资料 证件 身份证 学籍证明 学籍 教务系统 手机号 实名 验证码 港澳 台湾 台胞 留学生 外国 护照 通行证 居住证 "
     "住宿登记 认证函 documents papers paperwork materials id card passport permit proof student status "
     "registrar phone number sms hong kong macau taiwan international foreign accommodation registration letter",
     "/apply/materials/"),
    ("apply-steps", "在线申请的步骤", "How to apply online, step by step",
     "在线申请分四步：一、登录校园服务（门户/APP），进入“校园卡服务”中的“移动卡申请”；二、完成身份核验（人脸活体检测，并与学籍照片比对）；"
     "三、选择套餐，基础套餐必选，增值服务按需勾选；四、审核通过后在“我的卡片”里激活虚拟卡，实体卡同时开始制作。"
     "申请进度随时可以在申请页面查看。",
     "The online application has four steps: 1) sign in to the campus service portal/app and open Campus card "
     "service, then Mobile card application; 2) pass the identity check (a face liveness check and a comparison "
     "with your student photo); 3) choose your package: the base package is mandatory, add-ons are optional; "
     "4) once approved, activate the virtual card in My cards, while the physical card is being made. You can "
     "follow the application's status on the application page at any time.",
     "申请 办理 办卡 流程 步骤 怎么办 如何 手续 进度 审核 apply application process procedure steps how to "
     "sign up status progress review",
     "/apply/"),
    ("app-login", "如何登录、初始密码是什么", "Signing in and the initial password",
     "用学号或工号登录。初始密码是身份证号码的后六位，其中的字母要大写（例如末位的 x 写成 X）。第一次登录后系统会要求你立即修改密码。"
     "也可以用学校的统一身份认证（单点登录）直接登录。",
     "Sign in with your student or staff number. The initial password is the last six characters of your ID "
     "number, with any letter in upper case (a trailing x becomes X). The first sign-in makes you change it at "
     "once. You can also sign in with the university's unified identity authentication (single sign-on).",
     "登录 登陆 账号 用户名 学工号 学号 工号 初始密码 默认密码 忘记密码 改密码 后六位 大写 统一身份认证 单点登录 "
     "login log in sign in account username student number initial password default password first time "
     "uppercase capital sso single sign-on unified",
     "/login/"),
    ("face-verification", "人脸核验失败怎么办", "When the face check fails",
     "申请时的人脸核验包括活体检测和与学籍照片比对。提示“动作不规范”时：让脸始终保持在取景框内，慢慢地点头、眨眼，"
     "在光线充足的地方进行，避免背光。提示“照片不符”时：说明学籍照片与本人差别较大，请联系教务处更新学籍照片后再试。",
     "The face check while applying has two parts: a liveness check and a comparison with your student photo. "
     "If it says the action was not standard, keep your whole face inside the frame, nod and blink slowly, and "
     "stand in good light without the light behind you. If it says the photo does not match, your registrar photo "
     "is too different from you: ask the academic affairs office to update your student photo, then try again.",
     "人脸 刷脸 人脸识别 活体 检测 眨眼 点头 动作 不规范 光线 逆光 背光 照片不符 比对 失败 通不过 face liveness "
     "blink nod recognition verification check fail failed backlight light mismatch does not match selfie camera",
     "/apply/face/"),
    ("packages-addons", "基础套餐和增值服务", "The base package and add-ons",
     "每张卡都包含基础套餐：食堂消费、图书借阅和门禁通行，不能取消。增值服务可以自选：宿舍电费充值、洗衣房预约、实验室门禁权限。"
     "申请时勾选，之后也可以在“我的卡片”里的套餐页面增加或取消。",
     "Every card has the base package, which cannot be removed: canteen payment, library borrowing and door "
     "access. Add-ons are your choice: dorm electricity top-up, laundry booking and laboratory access. Pick them "
     "when you apply, or add or drop them later on the package page under My cards.",
     "套餐 基础 增值 附加 可选 必选 电费 洗衣 实验室 选择 package plan bundle base add-on addon optional "
     "mandatory electricity laundry lab laboratory choose option",
     "/cards/package/"),
    ("virtual-card-activation", "激活虚拟校园卡", "Activating the virtual card",
     "申请审核通过后，打开“我的卡片”，找到新的虚拟校园卡并激活，激活后就能用手机 NFC 或动态二维码付款和通行。"
     "审核还没通过时看不到激活按钮，可以在申请页面查看进度。",
     "When your application is approved, open My cards, find the new virtual card and activate it; from then on "
     "your phone pays and opens doors by NFC or the dynamic QR code. Before approval there is nothing to activate: "
     "check the application's status on the application page.",
     "激活 开通 启用 虚拟卡 电子卡 手机卡 我的卡片 approved activate activation enable virtual card digital "
     "phone card my cards",
     "/cards/"),
    ("card-pickup", "实体卡什么时候能拿、在哪领", "When and where to get the physical card",
     "实体卡与虚拟卡同时制作，一般 3 个工作日内做好（节假日不算，调休上班日算），做好后会通知你，可到任一校区的自助机领取。"
     "集中办卡时，校园卡中心会把已有证件照人员的卡统一发给所在单位（学院、部门），由单位转发；没有证件照的人需要先上传照片，"
     "再到校园卡中心领取。",
     "The physical card is made together with the virtual one and is usually ready within 3 working days "
     "(public holidays do not count, make-up working days do); you are notified, then collect it at any campus "
     "kiosk. When a whole intake or department is issued at once, the Card Center hands the cards of everyone "
     "with a photo to their unit (school or department), which passes them on; people without a photo upload "
     "one first and collect their card at the Card Center.",
     "实体卡 领卡 取卡 拿卡 领取 制卡 做好 几天 多久 工作日 自助机 单位 学院 发卡 physical card plastic collect "
     "pick up pickup get receive ready how long days working days kiosk unit department issued",
     "/cards/"),
    ("photo-update", "上传或更换证件照", "Uploading or changing your photo",
     "证件照用于卡面和刷脸设备。要上传或更换照片（例如刷脸设备认不出你），在“我的卡片”的照片页面上传，"
     "或通过学校门户的“证件照采集”服务提交。照片经工作人员审核通过后，于第二天同步到各设备生效。",
     "Your certificate photo appears on the card and is what face terminals compare with. To upload or change "
     "it (for example when a face terminal does not recognise you), upload it on the photo page under My cards "
     "or through the certificate photo collection service of the campus portal. After an operator approves it, "
     "it reaches the devices overnight and works from the next day.",
     "照片 证件照 头像 相片 换照片 更新照片 上传 刷脸 人脸设备 认不出 识别不了 审核 第二天 photo picture "
     "headshot portrait upload change replace update face terminal recognise recognize approve next day",
     "/cards/photo/"),
    ("loss-report", "校园卡丢了怎么挂失", "Reporting a lost card",
     "卡丢了请立即挂失：在门户/APP 的“我的卡片”里一键挂失，或在自助机、校园卡中心服务窗口办理。挂失马上生效，"
     "这张卡的所有凭证（实体卡、手机 NFC、付款码）立即停止消费和开门，离线设备也会在下次同步时拒绝它。"
     "如果后来找到了卡，可以在“我的卡片”里凭登录密码或支付密码解除挂失。",
     "If your card is gone, report it lost straight away: one tap in My cards on the portal/app, or at a kiosk "
     "or the Card Center's service window. The report works immediately: every credential of that card (the "
     "physical card, phone NFC, pay codes) stops paying and opening doors at once, and offline devices refuse it "
     "at their next sync. If you find the card again, take the report back in My cards with your login or "
     "payment password.",
     "挂失 丢 丢了 丢失 遗失 掉了 弄丢 找不到 被偷 被盗 冻结 停用 解挂 解除挂失 找到了 lost lose lost card missing "
     "stolen misplaced report freeze block stop found unreport cancel report",
     "/cards/"),
    ("card-replacement", "补办校园卡", "Replacing a lost card",
     "挂失后可以补卡：补办虚拟卡立即生效，补办实体卡 3 个工作日内做好。学生和临时卡用户可在自助机用身份证补办，"
     "用护照、港澳通行证等特殊证件开户的，在自助机输入证件号码即可；教职工请带有效证件到校园卡中心服务窗口办理。"
     "补卡费从卡内余额中扣除（默认学生 20 元，教职工免费），原卡余额在 48 小时内转到新卡。",
     "After a loss report you can replace the card: a virtual replacement works at once, a physical one is ready "
     "within 3 working days. Students and temporary holders replace it at a kiosk with their ID card; those whose "
     "account was opened with a special certificate (passport, Hong Kong/Macau permit …) type that certificate's "
     "number at the kiosk. Staff bring a valid ID to the Card Center's service window. The replacement fee is "
     "taken from the balance (our default: ¥20 for students, free for staff) and the old card's balance moves to "
     "the new card within 48 hours.",
     "补办 补卡 重办 重新办 换新卡 新卡 补卡费 手续费 费用 多少钱 余额转移 余额 48小时 replace replacement "
     "reissue re-issue new card fee cost charge price how much balance transfer move 48 hours",
     "/cards/"),
    ("meal-card-migration", "旧饭卡余额转入校园卡", "Moving the old meal card's balance",
     "用“换卡转账”功能可以把旧饭卡的余额转到新校园卡：先查看旧饭卡的余额，确认无误后一次性全部转入。只能转一次，"
     "转完后旧饭卡账户即被冻结。",
     "The card change and transfer function moves the balance of your old meal card to the campus card: check "
     "the old meal card's balance, confirm it, and the whole amount moves in one go. It can be done only once; "
     "afterwards the old meal-card account is frozen.",
     "饭卡 旧卡 老卡 原卡 换卡转账 转账 转入 转移 迁移 余额 冻结 meal card old card legacy transfer move "
     "migrate migration balance frozen once",
     "/cards/migrate/"),
    ("staff-card-change", "教职工调岗后要不要换卡", "Staff changing department: new card or not",
     "教职工调动岗位后，卡面上的部门信息可能不准确，可以免费换卡，但换不换由本人决定（“不需要就不换”），"
     "旧卡照常使用，余额跟着人走。需要换的，带旧卡到校园卡中心服务窗口办理。注意：公交绑定不会跟到新卡，换卡后要重新绑定。",
     "When a staff member moves to another department, the department printed on the card may be out of date. "
     "A new card is free but optional (no need, no change): the old card keeps working and the wallet follows "
     "the person. If you want one, bring the old card to the Card Center's service window. The bus binding does "
     "not move to the new card: bind the new one again.",
     "调岗 转岗 调动 换部门 部门 信息 不准 换卡 免费 教工 职工 老师 staff department change transfer moved post "
     "position job reissue new card free optional faculty teacher",
     "/cards/"),
    ("recharge", "怎么给校园卡充值", "How to top up the card",
     "充值方式有三种：在线充值（门户/APP 或绑定的微信小程序，通过支付平台付款），在各校区自助机投入现金充值，"
     "或到校园卡中心服务窗口用现金充值。在线充值到账后余额立即更新。",
     "There are three ways to put money on the card: online (the portal/app or the bound mini-program, paid "
     "through the payment gateway), cash at a campus kiosk, or cash at the Card Center's service window. An "
     "online recharge shows on the balance as soon as it is paid.",
     "充值 充钱 充卡 存钱 缴费 圈存 转账 现金 在线 网上 微信 支付宝 余额不足 没钱 recharge top up topup top-up "
     "add money load funds deposit cash online pay in wechat alipay balance low",
     "/wallet/recharge/"),
    ("wechat-binding", "绑定微信小程序", "Binding the card to the WeChat mini-program",
     "在微信里搜索校园卡小程序（或扫描二维码），用身份证号加查询密码（默认是身份证后六位）绑定身份，"
     "也可以用统一身份认证密码绑定。绑定后就能在小程序里充值、查询余额和消费记录。可以把小程序添加到手机桌面，方便日常使用。",
     "Search WeChat for the campus card mini-program (or scan its QR code) and bind your identity with your ID "
     "number and the query password (by default the last six characters of your ID number), or with your "
     "unified identity password. Once bound, you can recharge and check your balance and transactions there. "
     "Add the mini-program to your phone's home screen as a shortcut for everyday use.",
     "微信 小程序 公众号 绑定 解绑 查询密码 身份证号 快捷方式 桌面 wechat weixin mini-program miniprogram applet "
     "bind binding link query password shortcut home screen desktop channel",
     "/security/"),
    ("pay-nfc-qr", "怎么用校园卡付款", "How to pay with the card",
     "付款有两种方式：NFC 感应（刷实体卡，或把开启了 NFC 的手机靠近 POS 机），或出示动态付款码由商户扫描。"
     "付款码一次有效，约每 30 秒自动刷新，有效期 60 秒（本系统默认值）；截图、过期或已用过的码都会被拒绝。",
     "You pay in two ways: by NFC (tap the physical card, or hold your phone with NFC on to the POS), or by "
     "showing your dynamic pay code for the merchant to scan. The code works once, refreshes about every 30 "
     "seconds and is valid for 60 seconds (our defaults); screenshots, expired and already used codes are refused.",
     "付款 支付 消费 刷卡 扫码 付款码 二维码 动态码 NFC 感应 手机支付 食堂 超市 截图 过期 pay payment paying "
     "tap nfc qr code pay code scan dynamic refresh expired screenshot canteen pos phone",
     "/cards/"),
    ("spending-limit", "每日消费限额", "The daily spending limit",
     "每日消费限额默认 200 元，可以随时在门户的“消费限额”页面自己调整，最高不超过学校设定的上限（默认 1000 元）。"
     "超出限额的付款会被拒绝，并显示当天还能用多少钱。",
     "The daily spending limit is ¥200 by default. You can change it yourself at any time on the spending limit "
     "page of the portal, up to the institution's maximum (our default ¥1,000). A payment that would go over it "
     "is declined and shows how much you can still spend today.",
     "限额 额度 上限 每天 每日 一天 最多 消费额度 调整 提高 修改 200 limit daily cap maximum max per day spend "
     "spending raise increase change adjust declined",
     "/payments/limits/"),
    ("payment-password", "支付密码", "The payment password",
     "支付密码（消费密码）和登录密码是分开设置的两个密码，两者不能相同。单笔超过免密金额（默认 50 元）时需要输入支付密码。"
     "同一天连续输错 5 次会锁定付款，第二天自动解锁，也可到服务窗口解锁。支付密码每月必须更换一次，到期未改时需要密码的付款会暂停，"
     "小额免密付款不受影响。",
     "The payment password (消费密码) is separate from your login password and may not be the same. You need it "
     "for a payment above the password-free amount (our default ¥50). Five wrong tries in a row on one day lock "
     "payments until the next day, or until the service window unlocks them. It must be changed every month: "
     "when the change is due, payments that need it stop until you change it, while small password-free "
     "payments go on.",
     "支付密码 消费密码 交易密码 密码 输错 错误 锁定 锁了 解锁 每月 更换 修改 免密 小额 payment password pin "
     "wrong locked lock unlock monthly every month change expire password-free",
     "/security/"),
    ("mistaken-charge-appeal", "误刷申诉和退款", "Appealing a mistaken charge",
     "如果被误扣、多扣或重复扣款，可以在付款后 72 小时内通过“误刷申诉”提出申请：在“我的付款”里找到这笔付款并提交说明。"
     "由商户或校园卡中心处理，申诉通过后款项原路退回钱包。超过 72 小时就不能在线申诉了。",
     "If you were charged by mistake, twice or too much, you can appeal within 72 hours of the payment: find "
     "it under My payments and submit the appeal with a short explanation. The merchant or the Card Center "
     "decides; an accepted appeal refunds the amount to your wallet. After 72 hours the appeal is closed.",
     "误刷 误扣 多扣 扣错 重复扣款 扣了两次 申诉 退款 退钱 投诉 72小时 mistaken wrong charge charged twice double "
     "overcharged refund money back dispute appeal complaint 72 hours",
     "/payments/"),
    ("campus-entry", "校园卡能不能进校门", "Entering the campus with the card",
     "校园卡只是校内身份凭证，办了卡不代表可以进入校园。需要另外申请入校权限，审核通过后才能刷卡通过校门闸机。",
     "The card proves who you are on campus, but holding it does not by itself let you in. Apply for campus "
     "entry separately; once it is approved, the card opens the campus gates.",
     "进校 入校 进学校 校门 大门 闸机 入校申请 门禁 进不去 enter campus entry gate main gate admission permission "
     "get in access campus",
     "/access/campus-entry/"),
    ("door-access", "门禁：哪些地方能刷卡进", "Door access: which doors open",
     "门禁分三级：教学区全天开放给有效卡；宿舍楼在 23:00 到次日 6:00 之间只允许本楼住宿学生进入；实验室等特殊区域需要先申请时段权限，"
     "由管理员批准后在批准的时段内才能刷开。",
     "Doors work in three levels: teaching areas are open all day to any valid card; dormitory buildings admit "
     "only their own residents between 23:00 and 06:00; special areas such as laboratories open only for holders "
     "with an approved time-slot permit, which you request and the zone's manager approves.",
     "门禁 刷门 开门 进门 宿舍 楼 晚上 深夜 23点 门禁时间 实验室 权限 时段 教学楼 教室 door doors access dorm "
     "dormitory night late curfew lab laboratory permit slot teaching building open",
     "/access/"),
    ("visitor-code", "访客码：带朋友进校", "Visitor code for guests",
     "访客码是给来访人员的临时通行二维码：由你（或访客本人）在访客页面提前生成，最早可在来访前 6 小时生成，只在指定区域和时间段内有效，"
     "校门设备离线也能核验。",
     "A visitor code (访客码) is a temporary QR pass for a guest: you (or the visitor) create it on the visitors "
     "page at most 6 hours before the visit; it opens only the zones and time window it names, and gates can "
     "check it even offline.",
     "访客 访客码 来访 客人 朋友 家长 亲戚 外来人员 临时通行 通行证 visitor guest friend parent family temporary "
     "pass visit code invite",
     "/access/visitors/"),
    ("library", "用校园卡借书和到期提醒", "Borrowing books and due-date reminders",
     "校园卡就是借书证，基础套餐包含图书借阅。借阅记录来自图书馆系统，可在“图书借阅”页面查看，到期前 3 天会收到还书提醒。"
     "毕业后转为校友卡，仍可借阅。",
     "The campus card is your library card: borrowing is part of the base package. Your loans come from the "
     "library system and are listed on the library loans page, and you get a reminder 3 days before a book is "
     "due. After graduation the alumni card keeps borrowing rights.",
     "图书馆 借书 借阅 还书 到期 逾期 提醒 续借 书 library borrow books loan loans return due date overdue "
     "reminder renew",
     "/library/"),
    ("study-services", "教室座位预约、考试签到、器材租借", "Seats, exam check-in and equipment rental",
     "预约教室或自习座位：扫描桌上的二维码登记使用，预约后 15 分钟内未使用会自动释放（默认值）。考试签到：在考场入口刷卡或扫码，"
     "系统自动记录出勤，走错考场会提示你该去的考场。器材租借：体育器材和实验设备凭卡借出和归还，并统计使用时长。",
     "Classrooms and study seats: scan the QR code on the desk to register your use; a booking left unused is "
     "released after 15 minutes (our default). Exam check-in: tap your card or scan at the exam room entrance and "
     "attendance is recorded; at the wrong room you are told which room is yours. Equipment rental: sports and "
     "lab equipment is checked out and returned with your card, and the time you used it is counted.",
     "教室 预约 座位 自习 占座 桌子 二维码 考试 签到 考场 器材 租借 借器材 体育 设备 classroom room seat study "
     "desk booking book reserve exam check-in attendance equipment rental rent sports",
     "/study/"),
    ("health-records", "健康档案：体检和疫苗记录", "Health records: check-ups and vaccinations",
     "校园卡与校医院系统联动，记录你的体检数据和疫苗接种信息。只有你本人和经授权的医生能查看；每一次查看都会被记录，"
     "你可以在“健康档案”页面看到谁在什么时候看过。",
     "The card is linked to the campus hospital's system, which records your physical examinations and "
     "vaccinations. Only you and authorised clinicians can see them; every read is logged, and the health "
     "records page shows you who looked and when.",
     "健康 体检 疫苗 接种 校医院 医院 医生 病历 隐私 health medical checkup check-up examination vaccine "
     "vaccination hospital clinic doctor privacy records",
     "/health/"),
    ("transit", "刷校园卡坐公交", "Riding city buses with the card",
     "在“公交出行”页面把校园卡绑定到市区公交后，就能刷卡乘车，享受学生票价（默认五折）。公交车载设备可离线刷卡，"
     "余额不足时一次乘车最多可透支一次车费，下次充值时补扣。",
     "Bind your card to the city buses on the City buses page and you ride at the student fare (our default: "
     "half price). Bus validators also work offline; if your balance runs short, one ride may take the wallet at "
     "most one fare below zero, settled by your next recharge.",
     "公交 公交车 巴士 坐车 乘车 车费 票价 学生票 折扣 优惠 绑定 开通 出行 交通 bus buses city transit transport "
     "ride fare discount student fare bind",
     "/transit/"),
    ("graduation-alumni", "毕业后的校园卡：校友卡", "After graduation: the alumni card",
     "毕业时学生卡自动转为电子校友卡：消费支付和宿舍门禁停止，图书馆访问和借阅权限保留。卡内剩余余额可以申请退还。",
     "At graduation your student card becomes an alumni card automatically: payments and dormitory access end, "
     "library access and borrowing stay. The remaining balance can be refunded to you.",
     "毕业 离校 校友 校友卡 毕业生 余额退还 退余额 注销 graduation graduate graduating leaving alumni alumnus "
     "balance refund after leaving",
     "/cards/"),
    ("service-points", "人工服务点和自助机在哪里", "Where to get help in person: service points and kiosks",
     "人工服务点设在各校区图书馆一楼。校园卡中心服务窗口：一校区在师生服务大厅 22、23 号窗口，二校区在信息服务中心。"
     "自助机可办理充值、挂失、领卡和补卡（学生和非在编人员）：一区在师生服务大厅自助区和学苑餐厅一楼，二区在信息服务中心，"
     "科学园在南苑餐厅一楼，土木楼区在丁香餐厅一楼。各点的营业时间和是否正在营业见服务网点页面。",
     "Staffed service points are on the first floor of each campus library. The Card Center's service windows "
     "are windows 22 and 23 in the faculty and student service hall on the main campus, and the information "
     "service center on the second campus. Self-service kiosks handle recharge, loss reporting, card collection "
     "and replacement for students and non-staff: in Area 1 at the service hall's self-service area and the first "
     "floor of Xueyuan restaurant, in Area 2 at the information service center, in Science Park on the first "
     "floor of Nanyuan restaurant, and in the Civil Building area on the first floor of Clove restaurant. The "
     "service points page shows each one's hours and whether it is open now.",
     "服务点 网点 人工 窗口 柜台 服务大厅 校园卡中心 地址 位置 在哪 哪里 自助机 自助终端 一体机 营业时间 "
     "service point window counter desk office card center address location where kiosk terminal machine "
     "self-service opening hours open",
     "/service-points/"),
    ("hotline-contact", "联系我们：服务电话和在线客服", "Contact us: hotline and the online assistant",
     "服务电话工作时间为 08:30–21:00：一校区校园卡中心 86413000，二校区信息服务中心 86414000。"
     "智能客服（就是我）在门户/APP 内 24 小时在线；答不了的问题会告诉你最近的人工服务点、营业时间和电话。",
     "The hotline answers from 08:30 to 21:00: the Card Center on the main campus at 86413000, the information "
     "service center on the second campus at 86414000. The assistant (that is me) is online in the portal/app "
     "24 hours a day; when it cannot answer, it tells you the nearest staffed service point, its hours and "
     "telephone number.",
     "电话 热线 客服 人工客服 联系 联系方式 号码 打电话 咨询 投诉 智能客服 在线 24小时 phone telephone call "
     "hotline contact number helpline customer service support assistant chat talk human",
     "/service-points/"),
]

# Questions the Card Center does not handle but holders ask it (issue #21 item 1): each entry says who does.
# The assistant gives them as "not my answer": not confident, with the source and the nearest human help, so a
# near miss ("my bank card is lost") is pointed to the right place instead of answered with a card topic.
# Their keywords are the words that tell such a question from a card one ("bank", not "lost"); the topics
# come from issue #21 and the out-of-scope questions of the tuning sets (examples/*.json); the canteen menu,
# housing, clinic, wallet-app, route and lost-property ones from the usual campus questions a Card Center hears.
REDIRECTS: list[tuple[str, str, str, str, str, str, str]] = [
    ("elsewhere-bank-card", "银行卡、信用卡挂失：请找发卡银行", "Bank and credit cards: your bank handles them",
     "银行卡（借记卡、储蓄卡、信用卡）不由校园卡中心管理。银行卡丢失、被锁、被盗刷或需要冻结，请立即拨打发卡银行背面或官网上的客服电话，"
     "或在银行 App、银行网点办理。",
     "Bank cards (debit, savings and credit cards) are not run by the Card Center. If one is lost, locked, "
     "misused or needs freezing, call the service number of the bank that issued it (on its website or the back "
     "of the card) straight away, or use the bank's app or a branch.",
     "银行卡 银行 借记卡 储蓄卡 信用卡 工行 建行 农行 中行 招行 银联 ATM 取款机 网银 bank banks debit credit "
     "savings atm visa mastercard unionpay",
     ""),
    ("elsewhere-id-card", "身份证、护照补办：请找公安机关", "ID cards and passports: the police handle them",
     "居民身份证丢失或补办，请到户籍所在地或居住地的公安机关（派出所户籍窗口）办理，可先申请临时身份证明。"
     "护照、往来港澳通行证等出入境证件，请找出入境管理部门。校园卡中心只办理校园卡。",
     "A lost resident ID card is replaced by the police (the household registration window of a local police "
     "station), which can also give a temporary identity certificate. Passports and travel permits are handled "
     "by the exit-entry administration. The Card Center handles only campus cards.",
     "身份证丢 身份证补办 身份证掉 补身份证 居民身份证 派出所 公安 公安局 户籍 户口 临时身份证 出入境 "
     "national id identity card resident police station household registration passport lost passport",
     ""),
    ("elsewhere-phone-sim", "手机卡、流量和话费：请找运营商", "SIM cards, data plans and phone credit: your carrier",
     "手机卡（SIM 卡）补办、流量套餐和话费充值由你的手机运营商办理，请到运营商营业厅或在其官方 App 办理。"
     "校园卡中心不销售也不推荐流量卡。",
     "SIM card replacement, data plans and phone credit belong to your mobile carrier: go to one of its shops "
     "or use its official app. The Card Center neither sells nor recommends phone plans.",
     "手机卡 电话卡 SIM卡 sim 流量 流量卡 话费 营业厅 运营商 联通 电信 中国移动 月租 5G 4G 通话 "
     "data plan carrier phone credit airtime mobile plan gb minutes",
     ""),
    ("elsewhere-network", "校园网、Wi-Fi 和邮箱：请找学校网络中心", "Campus network, Wi-Fi and e-mail: the network office",
     "校园网账号、Wi-Fi、上网费、邮箱和 VPN 由学校的网络中心（网络与信息化部门）管理，忘记这些账号的密码也请找他们重置。"
     "校园卡中心只管理校园卡的登录密码、支付密码和查询密码。",
     "The campus network account, Wi-Fi, internet fees, university e-mail and VPN are run by the university's "
     "network office; ask it to reset those passwords too. The Card Center looks after only the campus card's "
     "login, payment and query passwords.",
     "校园网 网络 上网 网速 断网 无线 WiFi wi-fi 宽带 网费 邮箱 电子邮件 VPN 网络账号 network internet wifi "
     "wireless broadband email e-mail mail vpn online connection eduroam",
     ""),
    ("elsewhere-dorm-repair", "宿舍报修：请找宿舍管理或后勤", "Dorm repairs: dorm management or facilities",
     "宿舍里的水电、灯、空调、门锁、家具等损坏，请向宿舍管理员报修，或通过后勤服务的报修渠道提交。",
     "Broken things in a dormitory (water, power, lights, air conditioning, locks, furniture) are reported to the "
     "dorm manager or through the facilities (logistics) repair service.",
     "报修 维修 修理 坏了 损坏 漏水 水龙头 停水 停电 热水 空调 暖气 灯泡 门锁坏 家具 宿管 宿舍管理员 后勤 "
     "repair repairs broken fix leak leaking tap faucet heating heater air conditioner light bulb furniture "
     "maintenance facilities",
     ""),
    ("elsewhere-library-hours", "图书馆开放时间：请看图书馆公告", "Library opening hours: the library's own notices",
     "图书馆的开馆、闭馆时间和节假日安排由图书馆公布，请查看图书馆官网或入口处的公告。",
     "The library publishes its own opening and closing times and holiday schedule: see its website or the "
     "notice at the entrance.",
     "图书馆开放时间 开馆 闭馆 几点关门 关门 开门时间 周末开放 自习室开放 library opening hours open close "
     "closing closes time weekend sunday",
     ""),
    ("elsewhere-tuition", "学费和住宿费：请找财务处", "Tuition and accommodation fees: the finance office",
     "学费、住宿费的金额、缴纳、减免和退费由学校财务处（计划财务部门）办理，请查看财务处通知或到其窗口咨询。",
     "Tuition and accommodation fees (amounts, payment, waivers and refunds) are handled by the university's "
     "finance office: see its notices or ask at its counter.",
     "学费 住宿费 学期 学年 财务处 财务 缴学费 退学费 减免 助学贷款 tuition fees fee finance office bursar accommodation "
     "fee student loan",
     ""),
    ("elsewhere-academic", "成绩、选课和考试安排：请找教务处", "Grades, courses and exams: academic affairs",
     "成绩查询、选课、课表、考试安排和论文要求由教务处和你的学院负责，请登录教务系统或咨询学院教务老师。",
     "Grades, course registration, timetables, exam schedules and thesis rules belong to the academic affairs "
     "office and your school: use the academic system or ask your school's office.",
     "成绩 分数 绩点 学分 选课 课表 课程 期末成绩 挂科 补考 重修 论文 奖学金 grades grade marks score scores gpa "
     "credits course courses register registration timetable schedule thesis scholarship",
     ""),
    ("elsewhere-visa", "签证和居留许可：请找出入境管理部门", "Visas and residence permits: exit-entry administration",
     "留学生的签证、居留许可的办理和延期由公安机关出入境管理部门办理，学校国际学生服务中心可以协助准备材料。",
     "Student visas and residence permits, and their extension, are issued by the exit-entry administration of "
     "the police; the International Student Service Center helps with the paperwork.",
     "签证 续签 延签 居留许可 居留 出入境 visa visas extend extension renew residence",
     ""),
    ("elsewhere-misuse", "破解设备、复制或冒用他人的卡：不能帮忙", "Cracking readers or copying cards: not possible",
     "破解刷卡设备、复制或借用他人的卡、代刷代签都违反校规，我不能提供帮助。",
     "Getting around card readers, cloning or borrowing someone else's card, or checking in for others breaks "
     "the university's rules, and the assistant cannot help with it.",
     "破解 复制 克隆 盗用 溜进 翻墙 代签 代刷 作弊 答案 hack hacking clone cloning copy crack bypass sneak cheat "
     "answers",
     ""),
    ("elsewhere-wallet-apps", "微信支付、支付宝的密码和账户：请找微信或支付宝", "WeChat Pay and Alipay accounts: their own support",
     "微信支付、支付宝的支付密码、账户冻结、转账和红包由微信或支付宝自己的客服处理，请在它们的 App 里找“帮助与客服”。",
     "WeChat Pay and Alipay passwords, frozen accounts, transfers and red packets are handled by WeChat's or Alipay's "
     "own support: look for Help in their app.",
     "微信支付 支付宝 零钱 红包 转账 财付通 花呗 余额宝 wechat pay wechatpay alipay red packet hongbao transfer "
     "money to a friend",
     ""),
    ("elsewhere-city-routes", "乘车线路和时刻：请查公交公司", "Routes and timetables: ask the transport company",
     "去哪里坐几路车、首末班时间和换乘路线，请查公交公司的官方 App、站牌或地图导航。",
     "Which line goes where, first and last departures and connections are published by the transport company: "
     "use its app, the signs at the stop or a map app.",
     "几路 几路车 线路 路线 时刻表 首班车 末班车 站点 站台 火车站 高铁站 机场 地铁 换乘 导航 怎么走 怎么去 route routes "
     "timetable schedule which bus bus stop station train airport subway metro directions get to",
     ""),
    ("elsewhere-canteen-menu", "食堂菜单和营业时间：请看餐饮中心公告", "Canteen menus and hours: the catering service",
     "各食堂每天的菜品、价格和营业时间由学校餐饮（饮食）服务中心安排，请看食堂门口或餐饮中心公众号的公告。",
     "Each canteen's dishes, prices and opening hours are set by the university's catering service: see the notice "
     "at the canteen or the catering service's channel.",
     "菜单 菜品 饭菜 什么菜 好吃 口味 午饭 晚饭 早饭 早餐 夜宵 外卖 餐饮中心 饮食中心 menu dishes dish food lunch dinner "
     "breakfast eat taste delicious takeaway delivery catering",
     ""),
    ("elsewhere-housing", "调换宿舍和住宿安排：请找宿舍管理中心", "Changing rooms and housing: the housing office",
     "申请调换宿舍、退宿、走读和假期留校住宿，由学校宿舍管理（公寓）中心和你的辅导员办理。宿舍门禁已随住宿安排自动授权，"
     "搬进新宿舍后通常第二天即可刷卡进入。",
     "Changing rooms, moving out, living off campus and staying over the holidays are handled by the university's "
     "housing office and your counsellor. Dormitory door access follows the housing record by itself: after a "
     "move, your card usually opens the new building from the next day.",
     "换宿舍 调宿舍 换寝室 调寝 宿舍分配 分宿舍 退宿 走读 留校 室友 舍友 寝室 公寓中心 辅导员 change room room change "
     "move rooms roommate roommates housing office allocation move out off campus",
     ""),
    ("elsewhere-clinic", "看病挂号：请找校医院", "Seeing a doctor: the campus clinic",
     "看病、挂号、预约和医保报销由校医院办理，请到校医院或通过其预约渠道挂号。",
     "Seeing a doctor, appointments and medical insurance claims are handled by the campus clinic (hospital): go "
     "there or use its booking channel.",
     "看病 挂号 预约挂号 看医生 医生 门诊 急诊 发烧 感冒 生病 药 医保 报销 appointment doctor see a doctor sick ill "
     "fever cold medicine clinic hours emergency insurance claim",
     ""),
    ("elsewhere-lost-property", "丢了雨伞、钥匙等物品：请找失物招领", "Lost umbrellas, keys and other things: lost and found",
     "雨伞、钥匙、耳机、水杯等物品丢失或捡到，请联系保卫处或宿舍楼、教学楼的失物招领处。"
     "丢的是校园卡，请先在“我的卡片”里挂失。",
     "Umbrellas, keys, earphones, bottles and other belongings go to the lost and found of the security office or "
     "of the building. If it is your campus card that is gone, report it lost in My cards first.",
     "失物招领 雨伞 伞 钥匙 耳机 水杯 书包 钱包 充电宝 保卫处 lost and found umbrella keys key earphones headphones "
     "bottle backpack bag wallet charger security office",
     ""),
]


@cache
def examples() -> dict[str, list[str]]:
    """The starting "ways holders ask" of each entry: the in-scope questions of ``examples/*.json``, three sets
    written from the seed documents and SPEC.md alone by people who had not seen the entries (issue #21). Each
    set also lists out-of-scope questions; together they are the assistant's tuning sets (assistant.evaluation),
    and tests/assistant/questions_unseen.json, never used for tuning, measures it."""
    by_slug: dict[str, list[str]] = {}
    for path in EXAMPLE_SETS:
        for item in json.loads(path.read_text(encoding="utf-8"))["in_scope"]:
            by_slug.setdefault(item["topic"], []).append(item["q"])
    return by_slug
