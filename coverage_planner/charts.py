"""PNG charts in 中文 and English: the siting coverage curve with the standard's target line.

Chinese labels need a font with Chinese glyphs. None is bundled (a CJK font is 5–20 MB); one the
system has is used (fontconfig's ``fc-list :lang=zh``, then matplotlib's font list), checked to hold
every character of the labels. Without one the chart is labelled in English only, never with empty
boxes (tofu) in place of the characters.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np

CJK_NAME_HINTS = ("CJK", "WenQuanYi", "Zen Hei", "Micro Hei", "SimHei", "SimSun", "Source Han", "Heiti",
                  "Droid Sans Fallback", "Noto Sans SC", "Microsoft YaHei", "PingFang", "AR PL")


def _has_cjk(text: str) -> bool:
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef"
               for ch in text)


@lru_cache(maxsize=1)
def _candidate_files() -> tuple[str, ...]:
    """Font files that may have Chinese glyphs: fontconfig's answer first, then matplotlib's list."""
    files: list[str] = []
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20,
                                 check=False).stdout
            files += sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    from matplotlib import font_manager

    files += sorted(f.fname for f in font_manager.fontManager.ttflist if any(h in f.name for h in CJK_NAME_HINTS))
    return tuple(dict.fromkeys(files))


def covers(font_file: str, texts: list[str]) -> bool:
    """Whether the font has a glyph for every character of ``texts`` (spaces aside)."""
    from matplotlib.ft2font import FT2Font

    try:
        charmap = FT2Font(font_file).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(ch) in charmap for text in texts for ch in text if not ch.isspace())


def cjk_font(texts: list[str]):
    """A FontProperties of a system font that can draw every character of ``texts``, or None."""
    from matplotlib import font_manager

    for fname in _candidate_files():
        if Path(fname).exists() and covers(fname, texts):
            return font_manager.FontProperties(fname=fname)
    return None


def curve_labels(rule_id: str, rule_zh: str, target: float | None, chinese: bool) -> dict[str, str]:
    """The chart's title, axis and line labels, bilingual or English only."""
    en = {"title": f"{rule_id}: people covered vs new stations",
          "x": "New stations", "y": "People covered, %",
          "target": "" if target is None else f"target {target:.0%}", "curve": "greedy choice of sites"}
    if not chinese:
        return en
    return {"title": f"{rule_zh} 覆盖人口与新增站点数\n{en['title']}",
            "x": f"新增站点数 {en['x']}", "y": f"覆盖人口比例 {en['y']}",
            "target": "" if target is None else f"目标 {en['target']}", "curve": f"逐个贪心选址 {en['curve']}"}


def curve_figure(curve: np.ndarray, total: float, rule_id: str, rule_zh: str, target: float | None):
    """The coverage-curve figure: people covered (percent of ``total``) against new stations, 0 … n.

    Parameters
    ----------
    curve : ndarray
        People covered with 0, 1, … new stations (each added greedily: the one that adds most).
    total : float
        The people the rule applies to (100%).
    rule_id, rule_zh : str
        The rule, for the title.
    target : float or None
        The share the standard asks for (e.g. 0.95), drawn as a dashed line; the first station
        count that reaches it is ringed.

    Returns
    -------
    matplotlib.figure.Figure, bool
        The figure, and True when its labels are in 中文 and English (False: English only, no
        Chinese font on this machine).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = np.asarray(curve, dtype=float)
    share = curve / total * 100 if total > 0 else np.zeros_like(curve)
    font = cjk_font(list(curve_labels(rule_id, rule_zh, target, True).values()))
    labels = curve_labels(rule_id, rule_zh, target, font is not None)
    fig, ax = plt.subplots(figsize=(7.0, 4.4), dpi=120)
    ax.plot(np.arange(len(share)), share, marker="o", color="#d95f0e", label=labels["curve"])
    if target is not None:
        ax.axhline(target * 100, color="#2b8cbe", linestyle="--", linewidth=1.2, label=labels["target"])
        reached = np.flatnonzero(share >= target * 100 - 1e-9)
        if len(reached):
            ax.plot([reached[0]], [share[reached[0]]], marker="o", markersize=11, markerfacecolor="none",
                    markeredgecolor="#2b8cbe", linestyle="none")
    ax.set_xlabel(labels["x"], fontproperties=font)
    ax.set_ylabel(labels["y"], fontproperties=font)
    ax.set_title(labels["title"], fontproperties=font, fontsize=11)
    ax.legend(prop=font, loc="lower right")
    ax.grid(alpha=0.3)
    low = min(float(share.min()) if len(share) else 100.0, (target or 1) * 100)
    ax.set_ylim(max(low - 3, 0), 101)
    if 0 < len(share) <= 25:
        ax.set_xticks(np.arange(len(share)))
    fig.tight_layout()
    return fig, font is not None


def coverage_curve_png(curve: np.ndarray, total: float, path: Path, rule_id: str, rule_zh: str,
                       target: float | None) -> bool:
    """Write :func:`curve_figure` as a PNG (no timestamp: identical bytes for identical inputs).

    Returns True when the labels are bilingual, False when English only.
    """
    import matplotlib.pyplot as plt

    fig, chinese = curve_figure(curve, total, rule_id, rule_zh, target)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return chinese
