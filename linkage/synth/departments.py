"""The six departments: which files they keep, in what format, with which headers.

Each departmental file has its own Chinese headers, date style, encoding and conventions
(sex as 男/女 or 1/2, capital in 万元 or 元, phone with or without separators). These are
conventions, not errors: the engine's standardisers undo them. What the generator
corrupts on purpose lives in :mod:`linkage.synth.corrupt`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Style = Literal["iso", "compact", "slash", "dot", "chinese", "datetime"]


@dataclass(frozen=True, kw_only=True)
class DepartmentFile:
    """One file a department hands over."""

    department: str
    entity_type: Literal["person", "enterprise"]
    format: Literal["csv", "xlsx"]
    encoding: Literal["utf-8", "utf-8-sig", "gb18030"]
    date_style: Style
    key_header: str
    key_prefix: str
    updated_header: str
    headers: Mapping[str, str]  # canonical field -> header, in column order
    mean_lag_days: int
    sex_style: Literal["chinese", "digit"] = "chinese"
    phone_style: Literal["plain", "dashed", "plus86"] = "plain"
    capital_style: Literal["wan", "yuan", "plain"] = "plain"
    trust: Mapping[str, float] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        plural = "persons" if self.entity_type == "person" else "enterprises"
        return f"{self.department}_{plural}"

    @property
    def filename(self) -> str:
        return f"{self.stem}.{self.format}"


FILES: tuple[DepartmentFile, ...] = (
    DepartmentFile(
        department="household", entity_type="person", format="csv", encoding="utf-8",
        date_style="iso", key_header="记录号", key_prefix="HJ", updated_header="更新日期",
        headers={"name": "姓名", "id_number": "公民身份号码", "birth_date": "出生日期",
                 "sex": "性别", "phone": "联系电话", "address": "住址"},
        mean_lag_days=180,
        trust={"name": 0.95, "id_number": 0.95, "birth_date": 0.95, "sex": 0.95,
               "address": 0.9, "phone": 0.5},
    ),
    DepartmentFile(
        department="social_security", entity_type="person", format="csv", encoding="gb18030",
        date_style="compact", key_header="个人编号", key_prefix="SB", updated_header="变更日期",
        headers={"name": "姓名", "id_number": "社会保障号码", "birth_date": "出生年月日",
                 "sex": "性别", "phone": "手机号码", "address": "居住地址"},
        mean_lag_days=90, sex_style="digit", phone_style="dashed",
        trust={"name": 0.8, "id_number": 0.85, "birth_date": 0.8, "sex": 0.8,
               "address": 0.7, "phone": 0.9},
    ),
    DepartmentFile(
        department="tax", entity_type="person", format="csv", encoding="utf-8-sig",
        date_style="slash", key_header="纳税人编号", key_prefix="SW", updated_header="登记日期",
        headers={"name": "纳税人姓名", "id_number": "证件号码", "birth_date": "出生日期",
                 "sex": "性别", "phone": "联系方式", "address": "地址"},
        mean_lag_days=120, phone_style="plus86",
        trust={"name": 0.8, "id_number": 0.85, "birth_date": 0.7, "sex": 0.7,
               "address": 0.6, "phone": 0.8},
    ),
    DepartmentFile(
        department="courts", entity_type="person", format="csv", encoding="utf-8",
        date_style="dot", key_header="当事人编号", key_prefix="FY", updated_header="立案日期",
        # Judgments describe a party as "男，1975年5月5日出生，住..." even when the ID
        # number is masked, so the birth date is what links most court records.
        headers={"name": "当事人姓名", "id_number": "身份证号", "sex": "性别",
                 "birth_date": "出生日期", "phone": "电话", "address": "住所地"},
        mean_lag_days=400,
        trust={"name": 0.6, "id_number": 0.4, "sex": 0.6, "birth_date": 0.6, "address": 0.4,
               "phone": 0.3},
    ),
    DepartmentFile(
        department="tax", entity_type="enterprise", format="csv", encoding="utf-8-sig",
        date_style="slash", key_header="档案号", key_prefix="SWQ", updated_header="更新时间",
        headers={"name": "纳税人名称", "credit_code": "纳税人识别号",
                 "legal_rep_name": "法定代表人", "legal_rep_id": "法定代表人证件号码",
                 "address": "生产经营地址", "established_date": "成立日期",
                 "capital": "注册资本", "status": "纳税人状态"},
        mean_lag_days=120, capital_style="yuan",
        trust={"name": 0.8, "credit_code": 0.9, "legal_rep_name": 0.7, "legal_rep_id": 0.7,
               "address": 0.8, "established_date": 0.7, "capital": 0.6, "status": 0.7},
    ),
    DepartmentFile(
        department="market", entity_type="enterprise", format="xlsx", encoding="utf-8",
        date_style="chinese", key_header="主体编号", key_prefix="SC", updated_header="核准日期",
        headers={"name": "企业名称", "credit_code": "统一社会信用代码/注册号",
                 "legal_rep_name": "法定代表人姓名", "legal_rep_id": "法定代表人身份证号",
                 "address": "住所", "established_date": "成立日期", "capital": "注册资本",
                 "status": "登记状态"},
        mean_lag_days=60, capital_style="wan",
        trust={"name": 0.95, "credit_code": 0.95, "legal_rep_name": 0.95,
               "legal_rep_id": 0.95, "address": 0.9, "established_date": 0.95,
               "capital": 0.95, "status": 0.95},
    ),
    DepartmentFile(
        department="courts", entity_type="enterprise", format="csv", encoding="utf-8",
        date_style="dot", key_header="当事人编号", key_prefix="FYQ", updated_header="立案日期",
        headers={"name": "当事人名称", "credit_code": "统一社会信用代码",
                 "legal_rep_name": "法定代表人", "address": "住所地"},
        mean_lag_days=400,
        trust={"name": 0.5, "credit_code": 0.6, "legal_rep_name": 0.5, "address": 0.4},
    ),
    DepartmentFile(
        department="customs", entity_type="enterprise", format="csv", encoding="gb18030",
        date_style="datetime", key_header="备案号", key_prefix="HG", updated_header="备案日期",
        headers={"name": "企业名称", "credit_code": "组织机构代码",
                 "customs_code": "海关注册编码", "legal_rep_name": "法定代表人",
                 "legal_rep_id": "法定代表人身份证号", "address": "注册地址",
                 "established_date": "成立日期", "capital": "注册资本(万元)"},
        mean_lag_days=300,
        trust={"name": 0.5, "credit_code": 0.6, "customs_code": 0.95, "legal_rep_name": 0.4,
               "legal_rep_id": 0.4, "address": 0.4, "established_date": 0.5, "capital": 0.4},
    ),
)
