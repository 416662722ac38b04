from django import template

register = template.Library()


@register.filter
def thousands(value: object) -> str:
    """12345 → "12,345"."""
    try:
        return f"{int(str(value)):,}"
    except (TypeError, ValueError):
        return str(value)
