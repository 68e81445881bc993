"""How sources are shown to a model that writes answers: a numbered header line, then the chunk::

    [1] Title of the document (source)
    The chunk's text ...

Context packing (answer/context.py) counts its token budget on exactly this rendering. Bracketed numbers the
documents carry themselves (reference markers such as "[12]") are left out, so that they cannot pass for citations.
"""

from __future__ import annotations

from pgseek.providers.markers import remove_markers
from pgseek.types import Citation, Context

__all__ = ["render_context", "render_source"]


def render_source(source: Citation) -> str:
    label = source.title or source.document_id
    where = f" ({source.source})" if source.source and source.source != label else ""
    return f"[{source.marker}] {label}{where}\n{remove_markers(source.chunk)}"


def render_context(context: Context) -> str:
    return "\n\n".join(render_source(s) for s in context.sources)
