"""Words shown to the people who act on a run: the report's and the worklists' Chinese.

The users of the consistency account are the departments' staff: the report speaks Chinese
by default (``linkage run --lang en`` for English) and the worklists always do. Field
names, rule names and ids stay as they are in the data.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["KIND_LABELS", "LANGUAGES", "REPORT_ZH", "SEVERITY_LABELS", "kind_label",
           "severity_label", "translate"]

LANGUAGES = ("zh", "en")

#: Conflict kinds in the words of the departments' staff.
KIND_LABELS: Mapping[str, str] = {
    "identity_conflict": "身份冲突",
    "value_conflict": "取值冲突",
    "typo": "录入错误",
    "homophone_or_lookalike": "同音或形近字",
    "abbreviation": "简称",
    "vocabulary": "用语不同",
    "stale": "过时",
    "invalid": "无效值",
    "missing": "缺失",
    "format_only": "仅格式不同",
}
SEVERITY_LABELS: Mapping[str, str] = {"critical": "严重", "high": "高", "medium": "中",
                                      "low": "低", "info": "提示"}

#: The report's headings and notes in Chinese.
REPORT_ZH: Mapping[str, str] = {
    "Run summary": "运行概况",
    "Blocking": "分块",
    "Match weights": "匹配权重",
    "Model: m and u per comparison level": "模型：各比较级别的 m 与 u",
    "Explained example pairs": "示例记录对说明",
    "Clusters": "聚类",
    "Golden records": "黄金记录",
    "Legal representatives": "法定代表人",
    "Entity changes since the previous run": "与上次运行相比的实体变化",
    "Department scorecard": "部门数据质量评分",
    "Top conflicts": "主要冲突",
    "Input records per department": "各部门输入记录数",
    "Outputs per entity type": "各实体类型输出",
    "Conflicts by kind": "冲突类型分布",
    "Conflicts by kind (format-only differences left out)": "冲突类型分布（不含仅格式不同）",
    "Stage timings (seconds)": "各阶段耗时（秒）",
    "Evaluation against ground truth": "与真实数据对照的评估",
    "kind": "类型",
    "severity": "严重程度",
    "rows": "条数",
    "entity": "实体",
    "field": "字段",
    "golden value": "标准值",
    "candidates": "各部门取值",
    "evidence": "依据",
    "Top": "前",
    "of": "条，共",
    "no conflicts found": "未发现冲突",
    "values differ at position(s)": "取值不同的位置",
    "Self-contained page: no scripts, no external resources. "
    "ID numbers, phones and registration codes are masked.":
        "本页自包含：无脚本、无外部资源。身份证号、电话和登记代码均已脱敏。",
}


def translate(text: str, lang: str) -> str:
    """``text`` in ``lang`` (``zh``: the Chinese above where there is one)."""
    if lang == "zh":
        return REPORT_ZH.get(text, text)
    return text


def kind_label(kind: str, lang: str) -> str:
    """A conflict kind as shown: ``录入错误 (typo)`` in Chinese, the code in English."""
    if lang == "zh" and kind in KIND_LABELS:
        return f"{KIND_LABELS[kind]} ({kind})"
    return kind


def severity_label(severity: str, lang: str) -> str:
    if lang == "zh" and severity in SEVERITY_LABELS:
        return SEVERITY_LABELS[severity]
    return severity
