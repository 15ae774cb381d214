"""Small marks the page is made of: severity badges, health badges, money, trend lines.

Severity and health are never shown by colour alone: a symbol, a word or the number goes with
the colour, so the page reads in greyscale print and for colour-blind readers.
"""

from __future__ import annotations

from html import escape

from kamrules.report.models import BANDS, TrendPoint, band_of

SYMBOL = {"critical": "▲▲", "high": "▲", "medium": "◆", "low": "●", "info": "○"}
BAND_RANGE = {name: f"{floor}–{BANDS[i - 1][1] - 1 if i else 100}" for i, (name, floor) in enumerate(BANDS)}
# locale -> (thousands separator, decimal separator, symbol before the number)
NUMBERS = {"en": (",", ".", True), "de": (".", ",", False), "sr": (".", ",", False),
           "fr": ("\u202f", ",", False), "ru": ("\u00a0", ",", False)}
CURRENCY_SYMBOL = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "RUB": "₽", "INR": "₹"}


def sev(severity: str | None, word: bool = True) -> str:
    """A severity badge: colour, symbol and (unless `word` is off) the word; the word is its title."""
    if severity is None:
        return '<span class="sev sev-none" title="no finding" aria-label="no finding">✓</span>'
    text = f"{SYMBOL[severity]} {severity}" if word else SYMBOL[severity]
    return f'<span class="sev sev-{severity}" title="{severity}" aria-label="{severity}">{text}</span>'


def health_badge(score: int) -> str:
    band = band_of(score)
    return (f'<span class="health band-{band.replace(" ", "-")}" title="health {score}: {band}">'
            f"{score}</span>")


def number(value: float, locale: str, decimals: int = 0) -> str:
    group, point, _ = NUMBERS.get(locale, NUMBERS["en"])
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\0").replace(".", point).replace("\0", group)


def money(value: float | None, currency: str | None, locale: str, compact: bool = False) -> str:
    """An amount with its currency as the locale writes it; `compact` gives 1.35M style."""
    if value is None:
        return "–"
    text = number(value, locale)
    if compact and abs(value) >= 1000:
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= size:
                short = value / size
                text = number(short, locale, 0 if abs(short) >= 100 else 1 if abs(short) >= 10 else 2)
                text += suffix
                break
    if currency is None:
        return text
    symbol = CURRENCY_SYMBOL.get(currency)
    before = NUMBERS.get(locale, NUMBERS["en"])[2]
    if symbol:
        return f"{symbol}{text}" if before else f"{text}\u00a0{symbol}"
    return f"{currency}\u00a0{text}" if before else f"{text}\u00a0{currency}"


def delta(change: int | None) -> str:
    """↑5 / ↓12 / → since the previous run, coloured and worded in its title."""
    if change is None:
        return '<span class="meta" title="no earlier run">new</span>'
    if change == 0:
        return '<span class="meta" title="unchanged since the previous run">→</span>'
    cls, arrow, word = ("up", "↑", "better") if change > 0 else ("down", "↓", "worse")
    return (f'<span class="{cls}" title="{abs(change)} points {word} than at the previous run">'
            f"{arrow}{abs(change)}</span>")


def trend(points: list[TrendPoint], width: int = 56) -> str:
    """A small inline SVG line of health over runs, with the numbers in its title."""
    title = escape(", ".join(f"{p.as_of}: {p.health}" for p in points))
    if len(points) < 2:
        return f'<span title="{title}" class="meta">–</span>'
    h = 16
    step = width / (len(points) - 1)
    coords = " ".join(f"{i * step:.1f},{h - 1 - p.health / 100 * (h - 2):.1f}" for i, p in enumerate(points))
    return (f'<svg class="trend" width="{width}" height="{h}" role="img" aria-label="health {title}">'
            f'<title>{title}</title><polyline fill="none" stroke="#333" stroke-width="1.5"'
            f' points="{coords}"/></svg>')
