"""What the demo's quarter is made of: the agencies, and one story per case, written as a supervisor
would tell it. Times are relative to the moment the demo runs (app/demo_quarter.py lays them out), so
the supervision board always has something late, something due soon and something on time.

All names, numbers and places are invented.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.case_terms import ReferralStatus, RiskLevel, TaskKind
from hotline.taxonomy import CaseStatus, Line

__all__ = [
    "AGENCIES",
    "CASES",
    "AgencySpec",
    "CallSpec",
    "CaseSpec",
    "ChildSpec",
    "ClosureSpec",
    "PlanSpec",
    "RecordedReport",
    "ReferralSpec",
    "ReportSpec",
    "TaskSpec",
]

CITY, DISTRICT = 0, 1  # indexes into app.demo.DEMO_UNITS


@dataclass(frozen=True)
class AgencySpec:
    key: str
    unit: int
    name: str
    kind: str  # AGENCY_KINDS
    district: str
    contact_name: str
    contact_phone: str
    feedback_days: int


AGENCIES = [
    AgencySpec("police", CITY, "上城区公安分局 城南派出所", "police", "上城区", "刘警官", "057187001110", 7),
    AgencySpec("civil", CITY, "杭州市民政局 儿童福利处", "civil_affairs", "", "陈科长", "057187002220", 5),
    AgencySpec("edu", CITY, "杭州市教育局 学生安全处", "education", "", "周老师", "057187003330", 5),
    AgencySpec("school", CITY, "杭州市明德中学 德育处", "school", "上城区", "吴主任", "13957100444", 3),
    AgencySpec(
        "psych", CITY, "杭州市心理危机干预中心（市卫健委）", "health", "", "孙医生", "057187005550", 5
    ),
    AgencySpec(
        "procur",
        CITY,
        "上城区人民检察院 未成年人检察科",
        "procuratorate",
        "上城区",
        "郑检察官",
        "057187006660",
        10,
    ),
    AgencySpec("women", CITY, "杭州市妇联 权益部", "womens_federation", "", "林部长", "057187007770", 5),
    AgencySpec(
        "xh-community", DISTRICT, "西湖区北山街道 儿童主任", "community", "西湖区", "何主任", "13857100888", 3
    ),
    AgencySpec(
        "xh-school", DISTRICT, "西湖区文新小学 心理辅导室", "school", "西湖区", "黄老师", "13857100999", 3
    ),
]


@dataclass(frozen=True)
class ChildSpec:
    sex: str  # CHILD_SEXES
    age: int
    district: str
    school_stage: str | None = None  # None: the usual stage for the age
    name: str | None = None  # most callers give none


@dataclass(frozen=True)
class CallSpec:
    after_hours: float  # after the case was opened
    caller_type: str
    summary: str
    phone: str | None = None  # None: anonymous; "new": a number of its own; else a mobile or a key of PHONES


@dataclass(frozen=True)
class RecordedReport:
    after_hours: float
    police_unit: str
    channel: str  # REPORT_CHANNELS
    response: str


@dataclass(frozen=True)
class ReportSpec:
    situations: tuple[str, ...] = ()
    recorded: RecordedReport | None = None  # None: still pending


@dataclass(frozen=True)
class ReferralSpec:
    agency: str  # AgencySpec.key
    status: ReferralStatus
    reason: str
    request: str
    # Open referrals: the working day feedback is due, relative to today (negative: overdue). The send
    # date is counted back from it by the agency's feedback days.
    due_in_days: int = 0
    # Settled referrals (closed, declined, revoked): sent and settled this long after the case opened.
    sent_after_days: float = 1.0
    settled_after_days: float = 5.0
    feedback: str | None = None
    note: str | None = None  # why it was returned, declined or revoked


@dataclass(frozen=True)
class TaskSpec:
    title: str
    due_in_hours: float  # relative to now (negative: overdue)
    done_note: str | None = None  # done, with this note
    kind: TaskKind = TaskKind.MANUAL


@dataclass(frozen=True)
class PlanSpec:
    after_days: float
    measures: str
    responsible: str
    review_in_days: int  # relative to today (negative: the review is late)


@dataclass(frozen=True)
class ClosureSpec:
    days_ago: float
    outcome: str  # CASE_OUTCOMES
    summary: str
    satisfaction: str | None = None  # SATISFACTION of the follow-up; None: not yet done
    satisfaction_note: str | None = None


@dataclass(frozen=True)
class CaseSpec:
    key: str
    unit: int
    owner: str
    line: Line
    opened: tuple[int, float]  # (days back in the local calendar, local hour)
    category: str
    urgency: str
    child: ChildSpec
    calls: tuple[CallSpec, ...]
    status: CaseStatus
    risk: tuple[tuple[float, RiskLevel, str], ...] = ()  # (hours after opening, level, why)
    flags: tuple[str, ...] = ()
    report: ReportSpec | None = None
    referrals: tuple[ReferralSpec, ...] = ()
    tasks: tuple[TaskSpec, ...] = ()
    plan: PlanSpec | None = None
    follow_up_after_days: float = 5.0  # follow-up without a referral to wait for
    closure: ClosureSpec | None = None


# Callers who rang about more than one case, or more than once.
PHONES = {
    "mother-bullied": "13805711234",
    "mother-gaming": "13905712345",
    "mother-school-start": "13757123456",
    "teacher-chuyi": "13867001122",
}

_Y, _FE = Line.YOUTH_12355, Line.FAMILY_EDUCATION
_R, _S = RiskLevel, ReferralStatus
OP, OP2, XH = "operator", "operator2", "xihu-operator"

CASES: list[CaseSpec] = [
    # ---- Accepted: new in the last days ----
    CaseSpec(
        "violence-stepfather",
        CITY,
        OP,
        _Y,
        (1, 16.6),
        "violence",
        "urgent",
        ChildSpec("male", 13, "上城区"),
        (
            CallSpec(
                0,
                "teacher",
                "班主任来电：初一男生身上多处淤青，称继父经常打他，不敢回家。学校已安排学生暂留办公室。",
                "teacher-chuyi",
            ),
        ),
        CaseStatus.ACCEPTED,
        risk=((0.3, _R.HIGH, "身上多处新旧淤青，自述继父经常殴打，不敢回家。"),),
        report=ReportSpec(("multiple_injuries",)),
    ),
    CaseSpec(
        "left-alone-granddaughter",
        DISTRICT,
        XH,
        _FE,
        (0, 9.5),
        "guardianship",
        "urgent",
        ChildSpec("female", 10, "西湖区"),
        (
            CallSpec(
                0,
                "guardian",
                "奶奶来电：孙女10岁，父母在广东打工，自己住院一周，孩子一个人在家，邻居偶尔送饭。",
                "new",
            ),
        ),
        CaseStatus.ACCEPTED,
        risk=((0.2, _R.HIGH, "10岁女童独自在家多日，无人照料，祖母住院。"),),
        flags=("left_behind", "unsupervised"),
        report=ReportSpec(("abandoned",)),
    ),
    CaseSpec(
        "exam-sleepless",
        CITY,
        OP2,
        _FE,
        (0, 8.0),
        "study_pressure",
        "routine",
        ChildSpec("male", 17, "拱墅区"),
        (
            CallSpec(
                0,
                "parent",
                "母亲来电：孩子高三，一模成绩下滑后整夜失眠，说“考不上就完了”，家长不知如何沟通。",
            ),
        ),
        CaseStatus.ACCEPTED,
    ),
    CaseSpec(
        "short-videos",
        DISTRICT,
        XH,
        _Y,
        (1, 20.0),
        "online_addiction",
        "routine",
        ChildSpec("male", 12, "西湖区", "primary"),
        (
            CallSpec(
                0, "parent", "父亲来电：孩子六年级，每天玩手机游戏到深夜，没收手机后摔门、不吃饭。", "new"
            ),
        ),
        CaseStatus.ACCEPTED,
        risk=((1, _R.LOW, "沉迷短视频和网游，无自伤言行，亲子冲突为主。"),),
    ),
    CaseSpec(
        "tearful-girl",
        CITY,
        OP,
        _Y,
        (2, 21.5),
        "mental_health",
        "priority",
        ChildSpec("female", 15, "滨江区", "junior"),
        (
            CallSpec(
                0, "child", "初三女生来电：最近总是想哭，觉得同学都在议论自己，不想去学校，不愿告诉父母。"
            ),
        ),
        CaseStatus.ACCEPTED,
        risk=((0.5, _R.MEDIUM, "情绪低落两周，无自伤计划，愿意再次来电。"),),
        tasks=(TaskSpec("与来电学生约定的再次通话", 50),),
    ),
    # ---- In progress ----
    CaseSpec(
        "toilet-bullies",
        CITY,
        OP,
        _Y,
        (6, 19.0),
        "bullying",
        "priority",
        ChildSpec("male", 11, "上城区"),
        (
            CallSpec(
                0,
                "parent",
                "母亲来电：儿子五年级，连续几周被几个同学在厕所推搡、索要零花钱，现在早上说肚子疼不想上学。",
                "mother-bullied",
            ),
            CallSpec(
                50,
                "parent",
                "母亲再次来电：已和班主任沟通，对方家长不承认，孩子仍害怕上学。",
                "mother-bullied",
            ),
        ),
        CaseStatus.IN_PROGRESS,
        risk=((1, _R.MEDIUM, "在校多次被推搡、索要钱财，出现躲避上学。"),),
        tasks=(TaskSpec("联系学校德育处了解处理情况", -30),),
    ),
    CaseSpec(
        "locked-door",
        CITY,
        OP2,
        _FE,
        (10, 14.0),
        "parent_child",
        "routine",
        ChildSpec("female", 14, "拱墅区"),
        (
            CallSpec(
                0,
                "parent",
                "父亲来电：女儿初二，最近常锁门不说话，一说就吵，想知道怎么和青春期孩子沟通。",
                "new",
            ),
        ),
        CaseStatus.IN_PROGRESS,
        risk=((1, _R.LOW, "亲子沟通不畅，无安全风险。"),),
        tasks=(
            TaskSpec("推荐家庭教育专家一对一咨询", -200, done_note="已为家长预约张慧老师的面询。"),
            TaskSpec("回访家长：沟通方法试用情况", 100),
        ),
    ),
    CaseSpec(
        "homework-till-eleven",
        DISTRICT,
        XH,
        _FE,
        (4, 10.0),
        "study_pressure",
        "routine",
        ChildSpec("male", 9, "西湖区"),
        (
            CallSpec(
                0,
                "parent",
                "母亲来电：三年级孩子写作业拖到十一点，自己忍不住吼骂，孩子开始说“我是笨蛋”。",
                "13666012345",
            ),
            CallSpec(30, "parent", "母亲来电补充：按建议试了分段写作业，想了解更多方法。", "13666012345"),
        ),
        CaseStatus.IN_PROGRESS,
        risk=((1, _R.LOW, "作业拖拉引发家庭冲突，孩子自我评价变低。"),),
        tasks=(TaskSpec("发送家庭教育大讲堂报名信息", 20),),
    ),
    CaseSpec(
        "farewell-letter",
        CITY,
        OP,
        _Y,
        (3, 22.5),
        "self_harm",
        "crisis",
        ChildSpec("female", 16, "余杭区"),
        (
            CallSpec(
                0,
                "child",
                "高一女生深夜来电：说活着没意思，已经写好了信，想从楼上跳下去。接线员持续陪伴并取得母亲电话。",
            ),
            CallSpec(2, "parent", "母亲回电：已陪在孩子身边，同意明天带孩子去医院心理门诊。", "13588123456"),
            CallSpec(40, "parent", "母亲来电：已就诊，医生诊断为中度抑郁，开始服药。", "13588123456"),
        ),
        CaseStatus.IN_PROGRESS,
        risk=((0.2, _R.CRITICAL, "有明确轻生想法和计划，已写遗书。"),),
        plan=PlanSpec(
            1,
            "1. 市心理危机干预中心门诊每两周复诊；2. 学校心理老师每周约谈一次；"
            "3. 家长24小时看护，收好药物和利器；4. 接线员每周电话随访。",
            "主帮扶人：接线员 小李；协助：学校心理老师",
            7,
        ),
        tasks=(TaskSpec("每日电话关注情绪状态", 6),),
    ),
    CaseSpec(
        "internet-cafe-dropout",
        DISTRICT,
        XH,
        _Y,
        (15, 9.5),
        "dropping_out",
        "priority",
        ChildSpec("male", 14, "西湖区", "not_in_school"),
        (
            CallSpec(
                0,
                "teacher",
                "班主任来电：初二男生已一个多月没来上学，父母在外地打工，爷爷管不住，白天常在网吧。",
                "new",
            ),
        ),
        CaseStatus.IN_PROGRESS,
        risk=((2, _R.MEDIUM, "已辍学一个月，父母外出务工，白天在网吧，无人监管。"),),
        flags=("out_of_school", "unsupervised", "left_behind"),
        tasks=(
            TaskSpec("联合社区儿童主任家访", -150, done_note="已家访，孩子同意下周返校试读。"),
            TaskSpec("向班主任确认是否返校", 30),
        ),
    ),
    CaseSpec(
        "gaming-relapse",
        CITY,
        OP2,
        _FE,
        (20, 20.0),
        "online_addiction",
        "priority",
        ChildSpec("male", 15, "萧山区", "junior"),
        (
            CallSpec(
                0,
                "parent",
                "母亲来电：儿子初三，每天打游戏到凌晨三点，断网后砸坏房门，还推搡了我。",
                "mother-gaming",
            ),
            CallSpec(
                72,
                "parent",
                "母亲来电：孩子连续三天没去学校，问能不能送去“戒网学校”。接线员说明了此类机构的风险。",
                "mother-gaming",
            ),
            CallSpec(300, "parent", "母亲来电：孩子愿意去医院看看，但不愿意和我一起去。", "mother-gaming"),
        ),
        CaseStatus.IN_PROGRESS,
        risk=((1, _R.MEDIUM, "网络游戏成瘾，与母亲发生肢体冲突，已旷课。"),),
        referrals=(
            ReferralSpec(
                "psych",
                _S.DECLINED,
                "网络游戏成瘾伴亲子冲突，需心理评估。",
                "请安排青少年心理评估门诊，并告知预约方式。",
                sent_after_days=4,
                settled_after_days=8,
                note="本中心青少年门诊需由监护人带孩子到院挂号，不接受电话转介，请家长直接预约。",
            ),
        ),
        tasks=(TaskSpec("协助家长预约医院青少年心理门诊", 72),),
    ),
    CaseSpec(
        "night-out-theft",
        CITY,
        OP,
        _Y,
        (12, 15.0),
        "delinquency",
        "priority",
        ChildSpec("male", 16, "临平区", "not_in_school", name="许小峰"),
        (
            CallSpec(
                0,
                "professional",
                "社区社工来电：16岁男孩去年因盗窃被公安处理，辍学在家，近期常与社会闲散人员夜不归宿。",
                "new",
            ),
            CallSpec(120, "professional", "社工来电：男孩已同意参加社区帮教活动。", "same"),
        ),
        CaseStatus.IN_PROGRESS,
        risk=((1, _R.HIGH, "曾因盗窃被处理，近期与社会闲散人员来往、夜不归宿。"),),
        flags=("offended", "unsupervised", "out_of_school"),
        referrals=(
            ReferralSpec(
                "procur",
                _S.REVOKED,
                "未成年人有严重不良行为，需专门教育评估。",
                "请评估是否需要督促监护或专门矫治教育。",
                sent_after_days=2,
                settled_after_days=3,
                note="转介对象选择有误：应先由社区帮教跟进，撤回本次转介。",
            ),
        ),
        tasks=(TaskSpec("与社区社工确认帮教安排", 10),),
    ),
    # ---- Referred, waiting for agencies (follow-up once one has reported back) ----
    CaseSpec(
        "neighbour-abuse",
        CITY,
        OP,
        _Y,
        (20, 11.0),
        "sexual_abuse",
        "crisis",
        ChildSpec("female", 12, "上城区", "junior", name="小雨"),
        (
            CallSpec(
                0,
                "parent",
                "母亲来电：女儿12岁，说楼上邻居多次把她叫到家里摸她，孩子现在晚上做噩梦、不敢进电梯。",
                "new",
            ),
            CallSpec(20, "parent", "母亲来电：孩子又说出更多细节，已不敢回家，暂住外婆家。", "same"),
        ),
        CaseStatus.FOLLOW_UP,
        risk=(
            (0.2, _R.HIGH, "疑似遭受邻居性侵，孩子出现惊恐反应。"),
            (20, _R.CRITICAL, "多次发生，嫌疑人仍住同楼，孩子拒绝回家。"),
        ),
        report=ReportSpec(
            ("girl_under_14_sexual",),
            RecordedReport(
                3,
                "上城区公安分局 城南派出所",
                "visit",
                "派出所已受理立案，安排女警询问，并协调做了身体检查。",
            ),
        ),
        referrals=(
            ReferralSpec(
                "police",
                _S.ACKNOWLEDGED,
                "疑似性侵未成年人，已报案，需跟进侦查进展与保护措施。",
                "请告知案件进展，并评估是否需要对嫌疑人采取措施、保障孩子安全。",
                due_in_days=-3,
            ),
            ReferralSpec(
                "psych",
                _S.FEEDBACK,
                "受害儿童出现惊恐、噩梦等创伤反应。",
                "请安排创伤心理评估与干预。",
                due_in_days=3,
                feedback="已完成首次评估，诊断为急性应激反应，安排每周一次创伤聚焦心理治疗，共8次。",
            ),
        ),
        plan=PlanSpec(
            2,
            "1. 每周向派出所了解一次案件进展；2. 每周一次创伤心理治疗；3. 暂住外婆家，避免接触嫌疑人；"
            "4. 班主任关注在校情绪，不公开案情。",
            "主帮扶人：值班长 王老师",
            -2,
        ),
    ),
    CaseSpec(
        "grandpa-no-breakfast",
        CITY,
        OP2,
        _Y,
        (18, 10.0),
        "left_behind",
        "priority",
        ChildSpec("male", 8, "萧山区"),
        (
            CallSpec(
                0,
                "professional",
                "村儿童主任来电：8岁男孩父母在外务工多年，与七十多岁的爷爷同住，家中困难，孩子常不吃早饭上学。",
                "new",
            ),
        ),
        CaseStatus.REFERRED,
        risk=((2, _R.MEDIUM, "父母长期在外，与年迈祖父同住，家庭困难，无人辅导。"),),
        flags=("left_behind", "hardship"),
        referrals=(
            ReferralSpec(
                "civil",
                _S.SENT,
                "留守困境儿童，监护能力弱、家庭困难。",
                "请评估纳入困境儿童保障，落实生活补贴和监护帮扶。",
                due_in_days=0,
            ),
        ),
    ),
    CaseSpec(
        "custody-fight",
        DISTRICT,
        XH,
        _FE,
        (14, 16.0),
        "family_conflict",
        "priority",
        ChildSpec("female", 13, "西湖区"),
        (
            CallSpec(
                0,
                "parent",
                "母亲来电：正在和孩子爸爸打离婚官司，孩子13岁，两边都问她想跟谁，孩子开始失眠。",
                "new",
            ),
        ),
        CaseStatus.REFERRED,
        risk=((1, _R.MEDIUM, "父母离婚诉讼中争夺抚养权，孩子夹在中间，情绪低落、失眠。"),),
        referrals=(
            ReferralSpec(
                "xh-community",
                _S.ACKNOWLEDGED,
                "父母离异冲突中的儿童情绪困扰。",
                "请儿童主任上门了解孩子状况，链接社区心理服务。",
                due_in_days=1,
            ),
        ),
    ),
    CaseSpec(
        "hits-classmates",
        CITY,
        OP,
        _FE,
        (16, 9.0),
        "parent_child",
        "priority",
        ChildSpec("male", 10, "上城区"),
        (
            CallSpec(
                0,
                "parent",
                "父亲来电：儿子四年级，学校说他又打了同学，我回家打了他一顿，老师让我们找专业帮助。",
                "new",
            ),
        ),
        CaseStatus.FOLLOW_UP,
        risk=((1, _R.MEDIUM, "孩子在校多次打人，家长管教方式简单粗暴。"),),
        referrals=(
            ReferralSpec(
                "school",
                _S.RETURNED,
                "孩子有攻击行为，家庭教育方式需调整。",
                "请学校心理老师评估孩子在校行为，并反馈班级处理情况。",
                due_in_days=1,
                feedback="已找孩子谈话，孩子认错。",
                note="反馈过于简单，请补充心理老师的评估意见和后续在校支持安排。",
            ),
        ),
    ),
    CaseSpec(
        "photoshopped-pictures",
        CITY,
        OP2,
        _Y,
        (16, 14.0),
        "bullying",
        "urgent",
        ChildSpec("female", 14, "拱墅区"),
        (
            CallSpec(
                0,
                "child",
                "初二女生来电：同学把她的照片P成不雅图片在班级群里传，现在全班都在笑她，说不想活了。",
            ),
            CallSpec(3, "parent", "母亲按约定来电：已把截图保存好，孩子今天没去学校，在家陪着。", "new"),
        ),
        CaseStatus.REFERRED,
        risk=((0.5, _R.HIGH, "遭受网络欺凌，被传播侮辱性图片，有轻生言语。"),),
        referrals=(
            ReferralSpec(
                "edu",
                _S.SENT,
                "校园网络欺凌，涉及传播侮辱性图片。",
                "请督促学校调查处理、删除图片，并对涉事学生开展教育。",
                due_in_days=-2,
            ),
        ),
    ),
    CaseSpec(
        "sleepless-teacher-worry",
        DISTRICT,
        XH,
        _Y,
        (9, 13.0),
        "mental_health",
        "priority",
        ChildSpec("male", 15, "西湖区", "junior"),
        (
            CallSpec(
                0, "teacher", "班主任来电：初三男生长期失眠、成绩骤降，上课常趴着，家长觉得是偷懒。", "new"
            ),
        ),
        CaseStatus.FOLLOW_UP,
        risk=((1, _R.MEDIUM, "长期失眠、成绩骤降，家长不重视。"),),
        referrals=(
            ReferralSpec(
                "xh-school",
                _S.FEEDBACK,
                "学生情绪问题，需学校心理老师跟进。",
                "请心理老师约谈学生，并与家长沟通就医。",
                due_in_days=0,
                feedback="心理老师已约谈两次，家长同意本周带孩子就医。",
            ),
        ),
    ),
    CaseSpec(
        "aunt-cannot-cope",
        CITY,
        OP,
        _Y,
        (30, 10.0),
        "guardianship",
        "urgent",
        ChildSpec("male", 7, "钱塘区", name="王小军"),
        (
            CallSpec(
                0,
                "professional",
                "街道社工来电：7岁男孩母亲半年前病逝，父亲正在服刑，现由姑姑临时照看，姑姑说自己也养不起。",
                "new",
            ),
        ),
        CaseStatus.REFERRED,
        risk=((1, _R.HIGH, "母亲去世、父亲服刑，临时照看人无稳定收入，监护缺失。"),),
        flags=("lost_family_care", "hardship"),
        report=ReportSpec(
            ("abandoned",),
            RecordedReport(
                5,
                "钱塘区公安分局 下沙派出所",
                "police_station_phone",
                "派出所已登记，会同社区核实监护情况，暂无人身危险。",
            ),
        ),
        referrals=(
            ReferralSpec(
                "civil",
                _S.ACKNOWLEDGED,
                "事实无人抚养儿童，需落实监护和生活保障。",
                "请按事实无人抚养儿童认定程序评估，并明确临时监护人。",
                due_in_days=3,
            ),
        ),
    ),
    CaseSpec(
        "panic-before-exams",
        CITY,
        OP2,
        _FE,
        (8, 19.0),
        "study_pressure",
        "priority",
        ChildSpec("female", 16, "滨江区"),
        (
            CallSpec(
                0, "parent", "母亲来电：女儿高二，考试前心慌、手抖、喘不上气，去过急诊说身体没问题。", "new"
            ),
        ),
        CaseStatus.REFERRED,
        risk=((1, _R.MEDIUM, "学业压力大，伴惊恐发作。"),),
        referrals=(
            ReferralSpec(
                "psych", _S.SENT, "考试焦虑伴惊恐发作。", "请安排青少年心理门诊评估。", due_in_days=3
            ),
        ),
    ),
    # ---- Follow-up ----
    CaseSpec(
        "left-out-of-class",
        CITY,
        OP,
        _Y,
        (35, 15.0),
        "bullying",
        "priority",
        ChildSpec("male", 13, "上城区"),
        (
            CallSpec(0, "parent", "母亲来电：儿子初一，被同学孤立、起侮辱性外号，出现厌学。", "new"),
            CallSpec(400, "parent", "母亲来电：学校已处理，孩子情绪好转，表示感谢。", "same"),
        ),
        CaseStatus.FOLLOW_UP,
        risk=((1, _R.MEDIUM, "被同学孤立、言语侮辱，出现厌学。"),),
        referrals=(
            ReferralSpec(
                "school",
                _S.CLOSED,
                "校园欺凌（孤立、言语侮辱）。",
                "请学校调查处理并安排心理老师关注。",
                sent_after_days=1,
                settled_after_days=9,
                feedback="学校已召开班会，约谈涉事学生及家长，安排心理老师每周关注。",
            ),
        ),
        tasks=(TaskSpec("一个月后回访孩子在校情况", 80),),
    ),
    CaseSpec(
        "phone-contract",
        DISTRICT,
        XH,
        _FE,
        (28, 10.0),
        "online_addiction",
        "routine",
        ChildSpec("male", 13, "西湖区"),
        (CallSpec(0, "parent", "父亲来电：初一儿子周末一直玩手机，不出门也不和同学来往。", "new"),),
        CaseStatus.FOLLOW_UP,
        risk=((1, _R.LOW, "网络使用过度，社交退缩，无安全风险。"),),
        referrals=(
            ReferralSpec(
                "xh-community",
                _S.CLOSED,
                "网络使用过度、社交退缩。",
                "请儿童主任链接社区青少年活动。",
                sent_after_days=2,
                settled_after_days=10,
                feedback="儿童主任已上门两次，孩子开始参加社区周末篮球活动。",
            ),
        ),
        tasks=(TaskSpec("回访家长：手机使用约定执行情况", -20),),
    ),
    CaseSpec(
        "school-gate-tears",
        CITY,
        OP2,
        _FE,
        (22, 20.0),
        "parent_child",
        "routine",
        ChildSpec("female", 6, "拱墅区", "primary"),
        (CallSpec(0, "parent", "母亲又来电：女儿上一年级后天天哭闹，不肯进校门。", "mother-school-start"),),
        CaseStatus.FOLLOW_UP,
        risk=((1, _R.LOW, "入学适应困难，无安全风险。"),),
        follow_up_after_days=7,
        tasks=(TaskSpec("回访入学适应情况", 12),),
    ),
    CaseSpec(
        "grandmother-and-girl",
        CITY,
        OP,
        _Y,
        (40, 11.0),
        "left_behind",
        "priority",
        ChildSpec("female", 11, "临平区"),
        (
            CallSpec(
                0,
                "guardian",
                "外婆来电：外孙女11岁，父母在外打工，最近不爱说话、成绩下滑，常一个人发呆。",
                "new",
            ),
        ),
        CaseStatus.FOLLOW_UP,
        risk=((1, _R.MEDIUM, "留守女童情绪低落、成绩下滑。"),),
        flags=("left_behind",),
        referrals=(
            ReferralSpec(
                "women",
                _S.CLOSED,
                "留守女童缺少亲情陪伴。",
                "请链接“爱心妈妈”结对关爱。",
                sent_after_days=2,
                settled_after_days=12,
                feedback="已安排“爱心妈妈”结对，每月探访两次。",
            ),
        ),
    ),
    CaseSpec(
        "vocational-boy-talks",
        CITY,
        OP2,
        _Y,
        (26, 21.0),
        "mental_health",
        "priority",
        ChildSpec("male", 16, "萧山区", "vocational"),
        (
            CallSpec(0, "child", "职高男生来电：和父母吵架后觉得没人理解自己，整晚睡不着。"),
            CallSpec(100, "child", "男生再次来电：和爸妈谈过了，打算去学校心理室。"),
        ),
        CaseStatus.FOLLOW_UP,
        risk=((0.5, _R.MEDIUM, "亲子冲突后情绪困扰、失眠，无自伤计划。"),),
        follow_up_after_days=6,
        tasks=(
            TaskSpec("与来电学生约定的再次通话", -500, done_note="学生按约来电，情绪平稳。"),
            TaskSpec("与学校心理室确认是否已约谈", 150),
        ),
    ),
    # ---- Closed ----
    CaseSpec(
        "drunk-father",
        CITY,
        OP,
        _Y,
        (62, 16.0),
        "violence",
        "crisis",
        ChildSpec("female", 9, "上城区"),
        (
            CallSpec(
                0,
                "other",
                "邻居来电：楼下每晚传出孩子哭喊声，今天看到9岁女孩额头流血跑出来，说爸爸喝醉了打她。",
                "new",
            ),
        ),
        CaseStatus.CLOSED,
        risk=((0.1, _R.CRITICAL, "父亲酒后殴打，孩子头部受伤，仍在家中。"),),
        report=ReportSpec(
            ("multiple_injuries",),
            RecordedReport(
                1,
                "上城区公安分局 城南派出所",
                "phone_110",
                "民警已出警，对父亲出具家庭暴力告诫书，孩子暂由母亲带离。",
            ),
        ),
        referrals=(
            ReferralSpec(
                "police",
                _S.CLOSED,
                "家庭暴力致儿童受伤，已出警。",
                "请反馈告诫书执行及后续回访情况。",
                sent_after_days=0.5,
                settled_after_days=10,
                feedback="已出具告诫书，父亲书面保证不再施暴，社区民警定期回访。",
            ),
            ReferralSpec(
                "procur",
                _S.CLOSED,
                "监护人实施家庭暴力。",
                "请评估是否制发督促监护令。",
                sent_after_days=2,
                settled_after_days=20,
                feedback="已向父亲制发督促监护令，责令接受家庭教育指导。",
            ),
        ),
        closure=ClosureSpec(
            30,
            "referred_on",
            "孩子随母亲生活，父亲接受家庭教育指导，社区民警和学校定期回访，暂无再次受暴。",
            "satisfied",
            "母亲表示满意，孩子已恢复正常上学。",
        ),
    ),
    CaseSpec(
        "exam-expectations",
        CITY,
        OP2,
        _FE,
        (85, 10.0),
        "study_pressure",
        "routine",
        ChildSpec("male", 15, "西湖区", "junior"),
        (CallSpec(0, "parent", "父亲来电：儿子初三，中考压力大，父子一说成绩就吵架。", "new"),),
        CaseStatus.CLOSED,
        risk=((0.5, _R.LOW, "学业压力引发亲子冲突，无安全风险。"),),
        closure=ClosureSpec(
            82,
            "advice_given",
            "提供亲子沟通和考试减压建议，家长表示会调整期望。",
            "mostly_satisfied",
            "家长觉得建议有用，希望多办讲座。",
        ),
    ),
    CaseSpec(
        "before-first-grade",
        CITY,
        OP2,
        _FE,
        (75, 19.0),
        "parent_child",
        "routine",
        ChildSpec("female", 6, "拱墅区", "preschool"),
        (
            CallSpec(
                0,
                "parent",
                "母亲来电：女儿马上上一年级，每天说不想上学，担心适应不了。",
                "mother-school-start",
            ),
        ),
        CaseStatus.CLOSED,
        risk=((0.5, _R.LOW, "幼小衔接焦虑。"),),
        closure=ClosureSpec(70, "resolved", "家长参加幼小衔接家长课堂，掌握了入学准备方法。", "satisfied"),
    ),
    CaseSpec(
        "biting-toddler",
        DISTRICT,
        XH,
        _FE,
        (70, 14.0),
        "parenting",
        "routine",
        ChildSpec("male", 4, "西湖区"),
        (CallSpec(0, "parent", "父亲来电：4岁儿子一不顺心就打人咬人，爷爷奶奶护着，家里意见不一。", "new"),),
        CaseStatus.CLOSED,
        risk=((0.5, _R.LOW, "隔代教养分歧，无安全风险。"),),
        closure=ClosureSpec(
            68,
            "advice_given",
            "讲解幼儿情绪管理和家庭教养一致性的方法。",
            "dissatisfied",
            "家长认为建议太笼统，希望专家面谈；已告知可预约专家咨询。",
        ),
    ),
    CaseSpec(
        "grades-collapse",
        CITY,
        OP2,
        _FE,
        (52, 20.0),
        "online_addiction",
        "priority",
        ChildSpec("male", 15, "萧山区", "junior"),
        (CallSpec(0, "parent", "母亲来电：儿子沉迷手机游戏，成绩从班级前十掉到倒数。", "mother-gaming"),),
        CaseStatus.CLOSED,
        risk=((1, _R.MEDIUM, "网络游戏沉迷，学业明显下滑。"),),
        referrals=(
            ReferralSpec(
                "school",
                _S.CLOSED,
                "网络游戏沉迷致学业下滑。",
                "请班主任与家长共同制定手机使用约定。",
                sent_after_days=3,
                settled_after_days=10,
                feedback="班主任已与家长制定手机使用约定，每周反馈在校表现。",
            ),
        ),
        closure=ClosureSpec(32, "resolved", "学校与家长共同制定手机使用约定，孩子成绩回升。", "satisfied"),
    ),
    CaseSpec(
        "seat-changed",
        DISTRICT,
        XH,
        _Y,
        (45, 9.0),
        "bullying",
        "priority",
        ChildSpec("female", 10, "西湖区"),
        (
            CallSpec(
                0, "parent", "母亲来电：女儿四年级，同桌经常掐她、藏她的文具，老师说是小孩子闹着玩。", "new"
            ),
        ),
        CaseStatus.CLOSED,
        risk=((1, _R.MEDIUM, "持续的身体欺凌，学校未重视。"),),
        referrals=(
            ReferralSpec(
                "xh-school",
                _S.CLOSED,
                "校园欺凌未得到处理。",
                "请学校调查并采取保护措施。",
                sent_after_days=1,
                settled_after_days=6,
                feedback="学校已调换座位，对涉事学生批评教育并通知家长。",
            ),
        ),
        closure=ClosureSpec(31, "resolved", "学校已处理，孩子不再受欺负。", "mostly_satisfied"),
    ),
    CaseSpec(
        "ran-away-after-row",
        CITY,
        OP,
        _Y,
        (30, 23.0),
        "mental_health",
        "priority",
        ChildSpec("male", 17, "余杭区"),
        (CallSpec(0, "parent", "母亲来电：高三儿子吵架后离家出走一晚，现在回来了，但不和家里说话。", "new"),),
        CaseStatus.CLOSED,
        risk=((0.5, _R.MEDIUM, "亲子冲突后离家出走，已回家。"),),
        closure=ClosureSpec(12, "no_contact", "约定的三次回电均无人接听，短信未回复，按流程办结。"),
    ),
    CaseSpec(
        "quarrel-at-dinner",
        CITY,
        OP2,
        _FE,
        (15, 10.0),
        "family_conflict",
        "routine",
        ChildSpec("female", 12, "滨江区"),
        (CallSpec(0, "parent", "父亲来电：夫妻常在饭桌上为孩子教育吵架，女儿说讨厌回家。", "new"),),
        CaseStatus.CLOSED,
        risk=((0.5, _R.LOW, "家庭冲突影响孩子情绪，无安全风险。"),),
        closure=ClosureSpec(3, "advice_given", "建议父母统一教育方式、避免当着孩子争吵，推荐家长课堂。"),
    ),
    CaseSpec(
        "reading-struggles",
        DISTRICT,
        XH,
        _FE,
        (10, 11.0),
        "study_pressure",
        "routine",
        ChildSpec("male", 8, "西湖区"),
        (CallSpec(0, "parent", "母亲来电：二年级儿子阅读很吃力，老师怀疑有读写困难，家长很焦虑。", "new"),),
        CaseStatus.CLOSED,
        risk=((0.5, _R.LOW, "疑似学习困难，家长焦虑。"),),
        closure=ClosureSpec(6.5, "advice_given", "解释读写困难的评估途径，推荐到儿童医院发育行为科就诊。"),
    ),
    CaseSpec(
        "labour-law-question",
        CITY,
        OP,
        _Y,
        (88, 15.0),
        "rights",
        "routine",
        ChildSpec("male", 16, "拱墅区", "vocational"),
        (CallSpec(0, "child", "16岁职高学生来电：暑假打工的奶茶店不给工资，问怎么办。", "new"),),
        CaseStatus.CLOSED,
        risk=((0.5, _R.LOW, "劳动权益咨询，无安全风险。"),),
        closure=ClosureSpec(86, "withdrawn", "来电者表示店家已补发工资，撤回咨询。", "satisfied"),
    ),
    CaseSpec(
        "alone-in-the-street",
        CITY,
        OP2,
        _Y,
        (55, 8.5),
        "guardianship",
        "urgent",
        ChildSpec("female", 5, "钱塘区"),
        (
            CallSpec(
                0,
                "teacher",
                "幼儿园老师来电：5岁女孩多次被发现独自在街上游荡，母亲精神疾病发作，家中无其他大人。",
                "new",
            ),
        ),
        CaseStatus.CLOSED,
        risk=((0.5, _R.HIGH, "5岁女童多次独自在街头，监护人精神疾病发作。"),),
        flags=("unsupervised", "hardship"),
        report=ReportSpec(
            ("abandoned",),
            RecordedReport(
                4,
                "钱塘区公安分局 白杨派出所",
                "police_station_phone",
                "民警已上门，将孩子暂送外婆家，联系医院收治母亲。",
            ),
        ),
        referrals=(
            ReferralSpec(
                "civil",
                _S.CLOSED,
                "监护人因病无法履行监护职责。",
                "请评估困境儿童认定并明确临时监护人。",
                sent_after_days=1,
                settled_after_days=15,
                feedback="已认定为困境儿童，由外婆担任临时监护人，每月发放生活补贴。",
            ),
        ),
        closure=ClosureSpec(
            35, "referred_on", "民政部门已落实临时监护和生活补贴，母亲住院治疗。", "satisfied"
        ),
    ),
]
