from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def usd(micros: int | None) -> str:
    """Micro-dollars as dollars: 4 decimals below a cent, 2 above."""
    value = Decimal(micros or 0) / Decimal(1_000_000)
    if value and abs(value) < Decimal("0.01"):
        return f"${value:.4f}"
    return f"${value:,.2f}"
